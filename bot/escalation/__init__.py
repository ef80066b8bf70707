"""Putting conversations in front of staff: escalation records, their trail and notifications."""
