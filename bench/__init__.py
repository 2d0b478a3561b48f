"""Benchmarks: Threadline against the model floor. Run `python -m bench`."""
