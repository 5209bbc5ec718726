"""The Lightning training entry point every training stage uses."""
