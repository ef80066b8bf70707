"""Local mode (on by default): notifications are appended to a file, so the assistant runs
and is tested without any outside service."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Dict, Optional

from bot.config import paths


class LogNotifier:
    name = "log"

    def __init__(self, path: Optional[Path] = None):
        # Next to the other logs (LOG_DIR, as `make run` sets it), so a test run or a second
        # instance never writes into the project's own var/log.
        self.path = Path(path or Path(os.environ.get("LOG_DIR") or paths.ROOT / "var" / "log")
                         / "staff-notifications.log")

    async def send(self, payload: Dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"at": time.time(), **payload}, sort_keys=True) + "\n")
