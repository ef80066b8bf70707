"""Replay what was spooled while the database was unavailable, once it is back.

Runs as one task inside the Rasa server (started by the health channel): spooled trackers
first (so conversations are complete), then spooled escalations, then patients' messages in
the order they arrived, each through the normal message path, so the patient gets the real
answer and a warning sign is escalated as usual. Channels register how to reach a sender
again (`register_output`).
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from sqlalchemy.exc import SQLAlchemyError

from bot.resilience.spool import Spool

logger = logging.getLogger(__name__)
MESSAGES = "messages"
FAILED = "failed-messages"
_outputs: Dict[str, Callable[[str], OutputChannel]] = {}
_wake: Optional[asyncio.Event] = None
state = {"database_ok": True, "last_error": ""}


def register_output(channel: str, factory: Callable[[str], OutputChannel]) -> None:
    _outputs[channel] = factory


def kick() -> None:
    if _wake is not None:
        _wake.set()


def spool_message(message: UserMessage) -> Path:
    record = {"sender_id": message.sender_id, "text": message.text, "channel": message.input_channel,
              "metadata": message.metadata, "message_id": message.message_id}
    path = Spool(MESSAGES).put(record, sender=message.sender_id)
    kick()
    return path


def waiting(sender_id: str) -> bool:
    return Spool(MESSAGES).has(sender_id)


def pending() -> Dict[str, int]:
    from bot.resilience.rasa_patches import TRACKERS

    return {kind: len(Spool(kind)) for kind in (TRACKERS, "escalations", MESSAGES, FAILED)}


async def flush_once(agent: Any) -> bool:
    """True when everything spooled has been written/replayed."""
    from bot.channels.pause import deliver_unless_paused
    from bot.resilience.escalations import flush_escalations
    from bot.resilience.rasa_patches import TRACKERS, TrackerStoreUnavailable, _write_spooled
    from bot.settings import Settings

    trackers = Spool(TRACKERS)
    for path in trackers.items():
        sender = Spool.load(path)["sender_id"]
        await _write_spooled(agent.tracker_store, sender)  # raises while the database is down

    s = Settings.from_env()
    left = await asyncio.get_running_loop().run_in_executor(None, flush_escalations, s.database_url, s.notifiers)
    if left:
        raise ConnectionError("escalations still spooled")

    messages = Spool(MESSAGES)
    for path in messages.items():
        claimed = messages.claim(path)
        if claimed is None:
            continue
        record = Spool.load(claimed)
        factory = _outputs.get(record.get("channel") or "")
        output = factory(record["sender_id"]) if factory else CollectingOutputChannel()
        message = UserMessage(record["text"], output, record["sender_id"], input_channel=record.get("channel"),
                              metadata=record.get("metadata"), message_id=record.get("message_id"))
        try:
            await deliver_unless_paused(agent, message, agent.handle_message)
        except (TrackerStoreUnavailable, SQLAlchemyError):
            messages.release(claimed)
            raise
        except Exception:  # noqa: BLE001 - one bad message must not block the others
            logger.exception("a spooled message could not be replayed; kept in %s", FAILED)
            Spool(FAILED).put(record, sender=record["sender_id"])
        messages.done(claimed)
        logger.info("spooled message replayed")
    return True


async def run_forever(agent: Any) -> None:
    global _wake
    _wake = asyncio.Event()
    for kind in ("trackers", "escalations", MESSAGES):
        Spool(kind).recover_claims()
    delay = 1.0
    while True:
        try:
            await flush_once(agent)
            state.update(database_ok=True, last_error="")
            delay = 1.0
            _wake.clear()
            try:
                # Nothing spooled: sleep until something is (or check now and then anyway,
                # for items another process spooled).
                await asyncio.wait_for(_wake.wait(), timeout=30)
            except asyncio.TimeoutError:
                pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - database still down: back off and retry
            state.update(database_ok=False, last_error=type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)
