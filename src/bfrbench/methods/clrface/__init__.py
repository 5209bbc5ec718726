"""CLR-Face: low-compression VQGAN latents, a conditional score-based prior, masked identity guidance."""
