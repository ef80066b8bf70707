"""Run-time settings, read from the environment so no secret or site detail lives in code."""
from __future__ import annotations

import os
from dataclasses import dataclass

from bot import paths

DEFAULT_DATABASE_URL = f"sqlite:///{paths.ROOT / 'var' / 'clinic.db'}"


@dataclass(frozen=True)
class Settings:
    database_url: str
    # Where staff notifications go; "log" (a local file) is always safe to run with.
    notifiers: tuple = ("log",)

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            database_url=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            notifiers=tuple(n.strip() for n in os.environ.get("STAFF_NOTIFIERS", "log").split(",")
                            if n.strip()),
        )
