"""Restoration methods. A built-in method is one module here plus one line in `registry.py`; a method in another
installed package registers through the entry-point group `bfrbench.methods` (docs/adding-a-method.md)."""
