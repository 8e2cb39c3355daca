"""NetBuilder: design convolutional networks visually, check shapes, train, export PyTorch."""

__version__ = "0.1.0"
