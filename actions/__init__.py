"""Rasa SDK action server: thin adapters that call into the `bot` package."""
