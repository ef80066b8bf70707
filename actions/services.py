"""The objects every action shares, built once per action-server process."""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker

from bot.knowledge import KnowledgeBase
from bot.knowledge.live import LiveKnowledge, Snapshot
from bot.knowledge.serving import AnswerSelector, ServingConfig
from bot.config.settings import Settings
from bot.storage.db import upgrade
from bot.storage.knowledge_log import KnowledgeLog


@lru_cache(maxsize=1)
def settings() -> Settings:
    s = Settings.from_env()
    upgrade(s.database_url)
    return s


@lru_cache(maxsize=1)
def live_knowledge() -> LiveKnowledge:
    from bot.config.secrets import production

    return LiveKnowledge(settings().database_url, ServingConfig.load(), production())


def knowledge() -> Snapshot:
    """The knowledge base as published now (bot/knowledge/live.py): read at each message."""
    return live_knowledge().current()


def knowledge_base() -> KnowledgeBase:
    return knowledge().kb


def selector() -> AnswerSelector:
    return knowledge().selector


@lru_cache(maxsize=1)
def knowledge_log() -> KnowledgeLog:
    return KnowledgeLog(settings().database_url)


def channel_of(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "unknown"


@lru_cache(maxsize=1)
def clinic():
    from bot.config.clinic import load_clinic

    return load_clinic()


def template_values() -> Dict[str, Any]:
    from bot.config.clinic import reply_values

    return reply_values(clinic())


def last_bot_metadata(tracker: Tracker) -> Dict[str, Any]:
    """Metadata of the bot's last message before the current user message."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                return {}
            seen_user = True
        elif event.get("event") == "bot" and seen_user:
            return event.get("metadata") or {}
    return {}


def user_turns_since_entry(tracker: Tracker, entry_id: Optional[str]) -> Optional[int]:
    """How many user messages ago the entry was last served (None if not in this session)."""
    if not entry_id:
        return None
    turns = 0
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            return None
        if event.get("event") == "user":
            turns += 1
        elif event.get("event") == "bot" and (event.get("metadata") or {}).get("kb_entry") == entry_id:
            return max(turns - 1, 0)
    return None


def escalate(**fields: Any) -> Optional[int]:
    """Raise or update the conversation's escalation; spooled and retried if the database is
    unavailable (never raises: the patient's reply must go out regardless). Settings are read
    without the schema upgrade, which needs the database."""
    from bot.resilience.escalations import record_escalation

    s = Settings.from_env()
    return record_escalation(s.database_url, s.notifiers, **fields)


@lru_cache(maxsize=1)
def escalations():
    from bot.escalation.store import EscalationStore

    s = settings()
    return EscalationStore(s.database_url, s.notifiers)


def say(dispatcher, key: str, label: str, buttons: Optional[List[Dict[str, str]]] = None,
        **metadata: Any) -> None:
    """Send a text from bot/replies.yml; `label` (and any metadata) is kept on the tracker's
    bot event so evaluation and staff can tell what kind of reply the patient got."""
    from bot.replies import replies

    dispatcher.utter_message(text=replies()(key, **template_values()), buttons=buttons,
                             label=label, **metadata)


def yes_no_buttons() -> List[Dict[str, str]]:
    from bot.replies import replies

    return [{"title": replies()("yes_button"), "payload": "yes"},
            {"title": replies()("no_button"), "payload": "no"}]
