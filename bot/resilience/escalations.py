"""Record an escalation now, or spool it and retry until it lands.

A warning sign must reach staff even if the database is briefly unavailable when it is
reported: the escalation is kept in the durable spool and written as soon as the database
answers again (by the process that spooled it, and by any other flusher).
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from sqlalchemy.exc import SQLAlchemyError

from bot.resilience.spool import Spool, spool_root

logger = logging.getLogger(__name__)
KIND = "escalations"
RETRY_SECONDS = 2.0


def record_escalation(database_url: str, notifiers: Sequence[str], **fields: Any) -> Optional[int]:
    """The escalation id, or None when it was spooled for a retry."""
    from bot.escalation.store import EscalationStore

    try:
        return EscalationStore(database_url, notifiers).raise_or_update(**fields).escalation_id
    except Exception as exc:  # noqa: BLE001 - any failure to write: keep it and retry
        root = spool_root()
        Spool(KIND, root).put({"fields": fields}, sender=str(fields.get("conversation_id")))
        logger.error("escalation for conversation %s spooled for retry (%s)",
                     fields.get("conversation_id"), type(exc).__name__)
        ensure_retry_thread(database_url, notifiers, root)
        return None


def flush_escalations(database_url: str, notifiers: Sequence[str], root: Optional[Path] = None) -> int:
    """Write spooled escalations in order. While the database is down, stop and keep them;
    an item that fails for any other reason (it can never succeed) is moved aside and logged,
    so it never holds back the warning signs behind it. Returns how many are left."""
    from bot.escalation.store import EscalationStore

    spool = Spool(KIND, root)
    store = EscalationStore(database_url, notifiers)
    for path in spool.items():
        claimed = spool.claim(path)
        if claimed is None:
            continue
        try:
            store.raise_or_update(**Spool.load(claimed)["fields"])
        except (SQLAlchemyError, OSError) as exc:
            spool.release(claimed)
            logger.warning("spooled escalation not written yet (%s)", type(exc).__name__)
            break
        except Exception:  # noqa: BLE001
            spool.dead_letter(claimed)
            logger.exception("a spooled escalation can never be written; moved aside for staff")
            continue
        spool.done(claimed)
        logger.info("spooled escalation written")
    return len(spool.items())


_threads: Dict[str, threading.Thread] = {}
_thread_lock = threading.Lock()


def ensure_retry_thread(database_url: str, notifiers: Sequence[str], root: Optional[Path] = None) -> None:
    """A daemon thread that retries until the spool is empty (for processes without an
    event loop of ours, such as the action server). It keeps the spool it was started for."""
    root = root or spool_root()
    with _thread_lock:
        current = _threads.get(str(root))
        if current is not None and current.is_alive():
            return

        def run() -> None:
            delay = RETRY_SECONDS
            while True:
                time.sleep(delay)
                if flush_escalations(database_url, notifiers, root) == 0:
                    return
                delay = min(delay * 2, 30.0)

        thread = threading.Thread(target=run, name="escalation-retry", daemon=True)
        _threads[str(root)] = thread
        thread.start()
