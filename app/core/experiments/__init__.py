"""Experiments: sweeps over settings and block parameters (Optuna), repeated seeds with
confidence intervals, run comparison (settings, graph diff, metrics) and the course's
experiment templates. Above the engine: it starts ordinary runs and reads their folders."""
