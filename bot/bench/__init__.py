"""Benchmarks: our assistant against stock Rasa, on the same machine in the same run."""
