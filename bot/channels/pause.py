"""While staff have taken over a conversation the assistant stays quiet.

The patient's message is still parsed (so triage runs) and stored in the transcript for the
staff member to read. Only a warning sign (urgent or emergency) still gets the assistant's
full turn: its safety instructions must never wait for a person to notice.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import UserMessage

from bot.escalation.levels import ESCALATING_LEVELS
from bot.escalation.store import conversation_paused
from bot.config.settings import Settings


async def deliver_unless_paused(agent: Any, message: UserMessage,
                                on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
    if agent is None:
        await on_new_message(message)
        return
    # A blocking database call: off the event loop, so one slow query never stalls every chat.
    paused = await asyncio.get_running_loop().run_in_executor(
        None, conversation_paused, Settings.from_env().database_url, message.sender_id)
    if not paused:
        await on_new_message(message)
        return
    parse = message.parse_data or await agent.parse_message(message.text)
    if (parse.get("triage") or {}).get("level") in ESCALATING_LEVELS:
        await on_new_message(message)
        return
    message.parse_data = parse
    async with agent.lock_store.lock(message.sender_id):
        await agent.processor.log_message(message, should_save_tracker=True)
