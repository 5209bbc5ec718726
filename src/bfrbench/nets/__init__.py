"""Pretrained networks ported to torch (their weights come from the registry in bfrbench.weights)."""
