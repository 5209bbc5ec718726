"""Restoration methods. Each method is one module plus one line in `registry.py`."""
