"""Network architectures, each built from a plain config dict (diffusers style)."""
