"""Keeping patients safe when a part of the system is down (docs/reliability.md)."""
