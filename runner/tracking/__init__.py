"""Experiment tracking (MLflow): options, the run, and its wiring to a training or evaluation run."""
