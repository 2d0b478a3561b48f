"""Runs: the lifecycle, the prompt sent to the model and the executor that drives a run."""
