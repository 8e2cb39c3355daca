"""The training engine: pure PyTorch, no Qt. The GUI, the CLI and tests drive the same code."""
