"""While staff have taken over a conversation the assistant stays quiet.

The patient's message is still parsed (so triage runs) and stored in the transcript for the
staff member to read. Only a warning sign (urgent or emergency) still gets the assistant's
full turn: its safety instructions must never wait for a person to notice.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import UserMessage

from bot.console.review import conversation_paused
from bot.escalation.levels import ESCALATING_LEVELS
from bot.settings import Settings


async def deliver(app: Any, message: UserMessage, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
    agent = getattr(getattr(app, "ctx", None), "agent", None) if app is not None else None
    if agent is None or not conversation_paused(Settings.from_env().database_url, message.sender_id):
        await on_new_message(message)
        return
    parse = message.parse_data or await agent.parse_message(message.text)
    if (parse.get("triage") or {}).get("level") in ESCALATING_LEVELS:
        await on_new_message(message)
        return
    message.parse_data = parse
    async with agent.lock_store.lock(message.sender_id):
        await agent.processor.log_message(message, should_save_tracker=True)
