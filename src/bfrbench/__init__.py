"""bfrbench: reproduce and benchmark diffusion-prior blind face restoration.

Importing the package is cheap on purpose: no torch, no model code. Heavy modules are imported where they are used.
"""

__version__ = "0.1.0"
