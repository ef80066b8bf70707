"""Local mode (on by default): notifications are appended to a file, so the assistant runs
and is tested without any outside service."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict

from bot import paths


class LogNotifier:
    name = "log"

    def __init__(self, path: Path = paths.ROOT / "var" / "log" / "staff-notifications.log"):
        self.path = Path(path)

    async def send(self, payload: Dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"at": time.time(), **payload}, sort_keys=True) + "\n")
