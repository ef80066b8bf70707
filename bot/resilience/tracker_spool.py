"""Trackers spooled while the database could not be written, and writing them back.

The fail-closed tracker store (bot/rasa_ext/safety/fail_closed.py) spools a tracker it could
not save; before a conversation is read again, and when the replay task runs
(bot/resilience/replay.py), the spooled state is written first, so a read never returns an
older state than the patient saw.
"""
from __future__ import annotations

import logging
from typing import Any

from rasa.shared.core.trackers import DialogueStateTracker

from bot.resilience.spool import Spool

logger = logging.getLogger(__name__)
TRACKERS = "trackers"


class TrackerStoreUnavailable(Exception):
    """The conversation's history cannot be read: do not carry on as if it were new."""


async def write_spooled(store: Any, sender_id: str) -> None:
    """A tracker spooled for this conversation is written before the conversation is read,
    so a read never returns an older state than the patient saw."""
    spool = Spool(TRACKERS)
    for path in spool.for_sender(sender_id):
        claimed = spool.claim(path)
        if claimed is None:
            continue
        try:
            record = Spool.load(claimed)
            tracker = DialogueStateTracker.from_dict(record["sender_id"], record["events"], store.domain.slots)
        except Exception:  # noqa: BLE001 - unreadable: set aside, never block the conversation
            spool.dead_letter(claimed)
            logger.exception("a spooled tracker could not be read; moved aside")
            continue
        try:
            await store._tracker_store.save(tracker)
        except Exception as exc:
            spool.release(claimed)
            raise TrackerStoreUnavailable(sender_id) from exc
        spool.done(claimed)
        logger.info("spooled tracker written")
