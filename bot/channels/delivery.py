"""The one path every channel's messages take into Rasa (web chat, Telegram, replays).

It adds what Rasa's channels lack: a staff takeover keeps the assistant quiet
(bot/channels/pause.py), and when the conversation's history cannot be read (database down)
the patient still gets an honest, safe reply for what they wrote (the triage level comes
from the NLU step, which needs no database) and the message is spooled and answered
properly once the database is back (bot/resilience/replay.py). Nothing a patient sends is
dropped, and no error reaches them as silence.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict

from rasa.core.channels.channel import UserMessage
from sqlalchemy.exc import SQLAlchemyError

from bot.channels.pause import deliver_unless_paused
from bot.channels.rate_limit import limiter
from bot.replies import replies
from bot.resilience import fallback, replay
from bot.resilience.tracker_spool import TrackerStoreUnavailable

logger = logging.getLogger(__name__)


def agent_of(app: Any) -> Any:
    return getattr(getattr(app, "ctx", None), "agent", None) if app is not None else None


# One asyncio.Lock per conversation, taken before anything else awaits: asyncio locks wake
# waiters in arrival order, so a burst of messages (a reconnecting page flushing its queue)
# is handled in the order it was sent. Rasa's lock store alone does not promise that order.
_in_order: Dict[str, asyncio.Lock] = {}


async def deliver(app: Any, message: UserMessage, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
    verdict = limiter().check(message.sender_id)
    if verdict != "ok":
        logger.warning("rate limit: message from conversation %s not processed", message.sender_id)
        if verdict == "tell":
            await _send(message, replies()("rate_limited", **fallback.reply_values()))
        return
    lock = _in_order.setdefault(message.sender_id, asyncio.Lock())
    try:
        async with lock:
            await _deliver_in_order(agent_of(app), message, on_new_message)
    finally:
        if not lock.locked() and not getattr(lock, "_waiters", None):
            _in_order.pop(message.sender_id, None)


async def _deliver_in_order(agent: Any, message: UserMessage,
                            on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
    if replay.waiting(message.sender_id):
        # Earlier messages of this conversation are still spooled: keep the order.
        replay.spool_message(message)
        if not replay.state["database_ok"]:
            await fail_closed(agent, message)
        return
    try:
        await deliver_unless_paused(agent, message, on_new_message)
    except (TrackerStoreUnavailable, SQLAlchemyError) as exc:
        logger.error("conversation unavailable (%s): message spooled, fail-closed reply sent",
                     type(exc).__name__)
        replay.state.update(database_ok=False, last_error=type(exc).__name__)
        replay.spool_message(message)
        await fail_closed(agent, message)
    except Exception:  # noqa: BLE001 - a bug must not turn into silence for the patient
        logger.exception("a message could not be handled; spooled for one retry")
        replay.spool_message(message)
        await fail_closed(agent, message)


async def fail_closed(agent: Any, message: UserMessage) -> None:
    level, parse = "none", {}
    try:
        parse = message.parse_data or (await agent.parse_message(message.text) if agent else {})
        level = fallback.level_of(parse)
    except Exception:  # noqa: BLE001 - without a level the generic text still lists the warning signs
        logger.exception("could not triage a message for the fail-closed reply")
    for text in fallback.degraded_texts(level):
        await _send(message, text)
    if fallback.escalates(level):
        # Staff hear of a warning sign now (or as soon as the database is back), not only
        # when the spooled message is replayed; the replay then updates the same escalation.
        await asyncio.get_running_loop().run_in_executor(
            None, fallback.escalate, message.sender_id, message.input_channel or "unknown",
            message.text or "", parse, level)


async def _send(message: UserMessage, text: str) -> None:
    try:
        await message.output_channel.send_text_message(message.sender_id, text)
    except Exception:  # noqa: BLE001
        logger.exception("could not send a reply from the delivery path")
