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
from rasa.shared.core.events import UserUttered
from sqlalchemy.exc import SQLAlchemyError

from bot.resilience.spool import Spool
from bot.resilience.tracker_spool import TRACKERS, TrackerStoreUnavailable, write_spooled

logger = logging.getLogger(__name__)
MESSAGES = "messages"
_outputs: Dict[str, Callable[[str], OutputChannel]] = {}
_wake: Optional[asyncio.Event] = None
state = {"database_ok": True, "last_error": ""}


def register_output(channel: str, factory: Callable[[str], OutputChannel]) -> None:
    _outputs[channel] = factory


def kick() -> None:
    if _wake is not None:
        _wake.set()


def spool_message(message: UserMessage) -> Path:
    # The channel's own parse (Telegram's /human, /start) is kept, so a replay means the same.
    record = {"sender_id": message.sender_id, "text": message.text, "channel": message.input_channel,
              "metadata": message.metadata, "message_id": message.message_id,
              "parse_data": message.parse_data}
    path = Spool(MESSAGES).put(record, sender=message.sender_id)
    kick()
    return path


def waiting(sender_id: str) -> bool:
    return Spool(MESSAGES).has(sender_id)


def pending() -> Dict[str, int]:
    """Items waiting (or being replayed) per kind, and items set aside ("dead-...")."""
    kinds = (TRACKERS, "escalations", MESSAGES)
    counts = {kind: len(Spool(kind)) for kind in kinds}
    counts.update({f"dead-{kind}": len(Spool(f"dead-{kind}")) for kind in kinds})
    return counts


async def _already_handled(agent: Any, record: Dict[str, Any]) -> bool:
    """A replay interrupted after the message was recorded (a crash before the spool item
    was removed) must not run the message twice."""
    message_id = record.get("message_id")
    if not message_id:
        return False
    tracker = await agent.tracker_store.retrieve(record["sender_id"])
    return tracker is not None and any(
        isinstance(e, UserUttered) and e.message_id == message_id for e in tracker.events)


async def flush_once(agent: Any) -> bool:
    """Write/replay everything spooled; raises while the database is still down. False if
    more was spooled meanwhile (go round again)."""
    from bot.channels.pause import deliver_unless_paused
    from bot.resilience.escalations import flush_escalations
    from bot.config.settings import Settings

    for kind in (TRACKERS, "escalations", MESSAGES):
        Spool(kind).recover_claims()

    trackers = Spool(TRACKERS)
    for path in trackers.items():
        try:
            sender = Spool.load(path)["sender_id"]
        except FileNotFoundError:
            continue  # written meanwhile by the conversation itself
        except Exception:  # noqa: BLE001 - unreadable: set aside, or it is retried for ever
            claimed = trackers.claim(path)
            if claimed is not None:
                trackers.dead_letter(claimed)
                logger.exception("a spooled tracker could not be read; moved aside")
            continue
        await write_spooled(agent.tracker_store, sender)  # raises while the database is down

    s = Settings.from_env()
    # Escalations do not hold back the messages (each message escalates again if it must).
    await asyncio.get_running_loop().run_in_executor(None, flush_escalations, s.database_url, s.notifiers)

    messages = Spool(MESSAGES)
    for path in messages.items():
        claimed = messages.claim(path)
        if claimed is None:
            continue
        try:
            record = Spool.load(claimed)
        except Exception:  # noqa: BLE001
            messages.dead_letter(claimed)
            logger.exception("a spooled message could not be read; moved aside")
            continue
        factory = _outputs.get(record.get("channel") or "")
        output = factory(record["sender_id"]) if factory else CollectingOutputChannel()
        message = UserMessage(record["text"], output, record["sender_id"], input_channel=record.get("channel"),
                              metadata=record.get("metadata"), message_id=record.get("message_id"),
                              parse_data=record.get("parse_data"))
        try:
            if not await _already_handled(agent, record):
                await deliver_unless_paused(agent, message, agent.handle_message)
        except (TrackerStoreUnavailable, SQLAlchemyError, OSError):
            messages.release(claimed)
            raise
        except Exception:  # noqa: BLE001 - one bad message must not block the others
            logger.exception("a spooled message could not be replayed; moved aside for staff")
            messages.dead_letter(claimed)
            continue
        messages.done(claimed)
        logger.info("spooled message replayed")
    return not (messages.items() or trackers.items())  # more may have come in meanwhile


async def run_forever(agent: Any) -> None:
    global _wake
    _wake = asyncio.Event()
    delay = 1.0
    while True:
        try:
            clear = await flush_once(agent)
            state.update(database_ok=True, last_error="")
            delay = 1.0
            if not clear:
                await asyncio.sleep(0.1)
                continue
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
