"""What a new session of a conversation carries over from the previous one, for both session
starts: ours on the action server, and the Rasa server's own when the action server is down."""
from __future__ import annotations

import time
from typing import Iterable, Optional

# Slots that describe the patient, not the session, survive a session restart.
CARRIED_OVER_SLOTS = ("treatment_date",)


def within_retention(timestamps: Iterable[Optional[float]], now: Optional[float] = None) -> bool:
    """Whether the previous session (its events' timestamps) is within the retention period:
    a conversation idle for longer is due to be purged (or is being purged right now), so
    nothing of it is carried into the new session."""
    from bot.config.settings import Settings, SettingsError

    try:
        days = Settings.from_env().retention_days
    except SettingsError:
        days = None
    stamps = [t for t in timestamps if isinstance(t, (int, float))]
    if days is None or not stamps:
        return True
    return (now or time.time()) - max(stamps) < days * 86400
