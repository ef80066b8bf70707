"""Record an escalation now, or spool it and retry until it lands.

A warning sign must reach staff even if the database is briefly unavailable when it is
reported: the escalation is kept in the durable spool and written as soon as the database
answers again (by the process that spooled it, and by any other flusher).
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Dict, Optional, Sequence

from bot.resilience.spool import Spool

logger = logging.getLogger(__name__)
KIND = "escalations"
RETRY_SECONDS = 2.0


def record_escalation(database_url: str, notifiers: Sequence[str], **fields: Any) -> Optional[int]:
    """The escalation id, or None when it was spooled for a retry."""
    from bot.escalation.store import EscalationStore

    try:
        return EscalationStore(database_url, notifiers).raise_or_update(**fields).escalation_id
    except Exception as exc:  # noqa: BLE001 - any failure to write: keep it and retry
        Spool(KIND).put({"fields": fields}, sender=str(fields.get("conversation_id")))
        logger.error("escalation for conversation %s spooled for retry (%s)",
                     fields.get("conversation_id"), type(exc).__name__)
        ensure_retry_thread(database_url, notifiers)
        return None


def flush_escalations(database_url: str, notifiers: Sequence[str]) -> int:
    """Write spooled escalations in order; stop at the first failure. Returns how many are left."""
    from bot.escalation.store import EscalationStore

    spool = Spool(KIND)
    store = EscalationStore(database_url, notifiers)
    for path in spool.items():
        claimed = spool.claim(path)
        if claimed is None:
            continue
        try:
            store.raise_or_update(**Spool.load(claimed)["fields"])
        except Exception as exc:  # noqa: BLE001
            spool.release(claimed)
            logger.warning("spooled escalation not written yet (%s)", type(exc).__name__)
            break
        spool.done(claimed)
        logger.info("spooled escalation written")
    return len(spool)


_thread: Optional[threading.Thread] = None
_thread_lock = threading.Lock()


def ensure_retry_thread(database_url: str, notifiers: Sequence[str]) -> None:
    """A daemon thread that retries until the spool is empty (for processes without an
    event loop of ours, such as the action server)."""
    global _thread
    with _thread_lock:
        if _thread is not None and _thread.is_alive():
            return
        stop = threading.Event()

        def run() -> None:
            delay = RETRY_SECONDS
            while not stop.wait(delay):
                if flush_escalations(database_url, notifiers) == 0:
                    return
                delay = min(delay * 2, 30.0)

        _thread = threading.Thread(target=run, name="escalation-retry", daemon=True)
        _thread.start()


def pending() -> Dict[str, int]:
    return {KIND: len(Spool(KIND))}
