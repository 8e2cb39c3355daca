"""Live training in the app: the run controller, the training panel, plots and results."""
