"""Torch-only training code that exported training scripts copy verbatim.

The built-in shapes dataset and the batch augmentations, kept at ruff's default line
length (see ruff.toml).
"""
