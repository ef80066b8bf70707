"""Logging for our processes: INFO by default, and never message texts unless DEBUG is chosen
deliberately (Rasa logs texts and slot values at DEBUG)."""
from __future__ import annotations

import logging
import os


def configure_logging(level: str | None = None) -> None:
    level = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("tensorflow", "absl", "sanic", "asyncio", "urllib3", "httpx", "matplotlib"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    try:
        # Rasa 3.6 logs parse results (with the message text) through structlog at DEBUG.
        from rasa.utils.log_utils import configure_structlog

        configure_structlog(logging.getLevelName(level))
    except Exception:  # noqa: BLE001 - structlog config is best effort outside Rasa
        pass
