"""An example bfrbench method plugin: `example_conv`, registered through the entry-point group `bfrbench.methods`.

Importing this package imports nothing heavy: bfrbench reads the method's class attributes (`name`, `stages`,
`description`, `behaviour`) when it lists or validates methods, and torch/Lightning only when it trains or restores.
"""
