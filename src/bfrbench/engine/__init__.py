"""Evaluation engines: read a folder of restored images once and score it with every selected metric."""
