"""Symptom triage: recognise reported symptoms and assign emergency / urgent / routine / none."""
from bot.triage.engine import TriageEngine, TriageResult

__all__ = ["TriageEngine", "TriageResult"]
