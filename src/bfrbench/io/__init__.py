"""File input/output: strict image reading, atomic writes, pairing by name."""
