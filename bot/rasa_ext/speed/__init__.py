"""Measured speed-ups that change no result; off with CLINIC_SPEEDUPS=off (bot/rasa_ext/__init__.py)."""
