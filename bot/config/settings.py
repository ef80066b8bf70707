"""Run-time settings, read from the environment so no secret or site detail lives in code."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional

from bot.config import paths

DEFAULT_DATABASE_URL = f"sqlite:///{paths.ROOT / 'var' / 'clinic.db'}"

# Conversations with no activity for this many days lose their texts and contact details
# (bot/privacy/retention.py); "off" keeps them forever.
DEFAULT_RETENTION_DAYS = 365
MAX_RETENTION_DAYS = 36500


class SettingsError(ValueError):
    """A setting has a value we refuse to run with; the message names it and says what is valid."""


def parse_retention_days(raw: Optional[str]) -> Optional[int]:
    """RETENTION_DAYS: a whole number of days from 1 to 36500 (unset or empty: 365), or "off"
    (None: never purge). 0 is refused rather than guessed at: read as "no retention" it would
    purge every conversation at once, read as "off" it would keep everything forever."""
    if raw is None or not raw.strip():
        return DEFAULT_RETENTION_DAYS
    value = raw.strip().lower()
    if value == "off":
        return None
    if re.fullmatch(r"[0-9]+", value) and 1 <= int(value) <= MAX_RETENTION_DAYS:
        return int(value)
    raise SettingsError(
        f"RETENTION_DAYS={raw!r} is not valid: give a whole number of days from 1 to {MAX_RETENTION_DAYS} "
        f"(conversation texts and contact details are purged after that many days without activity; "
        f"default {DEFAULT_RETENTION_DAYS}), or 'off' to keep them forever")


@dataclass(frozen=True)
class Settings:
    database_url: str
    # Where staff notifications go; "log" (a local file) is always safe to run with.
    notifiers: tuple = ("log",)
    # RETENTION_DAYS as given. Validated by `retention_days`, which the worker (the only
    # process that purges) reads at start and refuses to start on; the processes that answer
    # patients never fail a turn over it.
    retention: Optional[str] = None

    @property
    def retention_days(self) -> Optional[int]:
        """Days without activity after which a conversation is purged; None: never."""
        return parse_retention_days(self.retention)

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            database_url=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            notifiers=tuple(n.strip() for n in os.environ.get("STAFF_NOTIFIERS", "log").split(",")
                            if n.strip()),
            retention=os.environ.get("RETENTION_DAYS"),
        )
