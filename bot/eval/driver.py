"""Drive the real assistant in-process: the trained model (with the triage component), a
real action server, and our SQL tracker store (as endpoints.yml configures it) in a real
database. Used by the eval runner, the tests and the benchmarks, so they all exercise the
same path."""
from __future__ import annotations

import asyncio
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from sqlalchemy import select

from bot.escalation.levels import ESCALATING_LEVELS
from bot.eval.scoring import answer_label, triage_level
from bot.serve.processes import action_server
from bot.storage.db import dispose_all, transaction, upgrade
from bot.storage.models import Escalation, EscalationEvent

ESCALATION_ACTIONS = ("raised", "level_raised", "updated")


@dataclass
class TurnOutcome:
    text: str
    replies: List[str]
    buttons: List[List[Dict[str, Any]]]
    metadata: List[Dict[str, Any]]
    parse_data: Dict[str, Any]
    escalated: bool
    answer: str = ""
    triage: str = "none"
    entries: List[str] = field(default_factory=list)


def symptom_escalation_marks(url: str, conversation_id: str) -> set:
    """Trail entries showing a warning sign was put in front of staff."""
    with transaction(url) as s:
        rows = s.execute(
            select(EscalationEvent.id, Escalation.level)
            .join(Escalation, Escalation.id == EscalationEvent.escalation_id)
            .where(Escalation.conversation_id == conversation_id,
                   Escalation.reason == "symptoms",
                   EscalationEvent.action.in_(ESCALATION_ACTIONS))
        ).all()
    return {event_id for event_id, level in rows if level in ESCALATING_LEVELS}


class AssistantDriver:
    def __init__(self, agent, database_url: str):
        self.agent = agent
        self.url = database_url
        self.loop = asyncio.new_event_loop()

    async def say_async(self, sender: str, text: str, channel: str = "eval",
                        metadata: Optional[Dict[str, Any]] = None) -> TurnOutcome:
        from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
        from rasa.shared.core.events import BotUttered, UserUttered

        before = symptom_escalation_marks(self.url, sender)
        began = time.time()
        await self.agent.handle_message(UserMessage(text, CollectingOutputChannel(), sender,
                                                    input_channel=channel, metadata=metadata))
        # The full tracker: the session-start disclaimer is logged just before SessionStarted,
        # so the latest-session view would hide it.
        tracker = await self.agent.tracker_store.retrieve_full_tracker(sender)
        events = list(tracker.events)
        last_user = max(i for i, e in enumerate(events) if isinstance(e, UserUttered))
        # Everything the turn produced, including the disclaimer sent at session start: told
        # by time, not position, as a deletion request removes the events before it.
        bots = [e for e in events if isinstance(e, BotUttered) and e.timestamp >= began]
        md = [e.metadata or {} for e in bots]
        parse = events[last_user].parse_data
        return TurnOutcome(
            text=text, replies=[e.text for e in bots if e.text],
            buttons=[(e.data or {}).get("buttons") or [] for e in bots],
            metadata=md, parse_data=parse,
            escalated=bool(symptom_escalation_marks(self.url, sender) - before),
            answer=answer_label(md), triage=triage_level(parse, md),
            entries=[m["kb_entry"] for m in md if m.get("kb_entry")],
        )

    def say(self, sender: str, text: str, channel: str = "eval",
            metadata: Optional[Dict[str, Any]] = None) -> TurnOutcome:
        return self.loop.run_until_complete(self.say_async(sender, text, channel, metadata))

    def close(self) -> None:
        from bot import rasa_ext

        self.loop.run_until_complete(rasa_ext.close_connections())
        self.loop.close()


@contextmanager
def running_assistant(model_path: Path, work_dir: Optional[Path] = None,
                      extra_env: Optional[Dict[str, str]] = None,
                      database_url: Optional[str] = None) -> Iterator[AssistantDriver]:
    from rasa.core.agent import Agent
    from rasa.utils.endpoints import EndpointConfig

    from bot import rasa_ext
    from bot.serve.processes import action_server_token
    from bot.config.secrets import ACTION_TOKEN_HEADER
    from bot.storage.tracker_store import CachedSQLTrackerStore

    rasa_ext.install_for_rasa()  # as the Rasa server has them: this process runs Rasa
    with tempfile.TemporaryDirectory(prefix="clinic-assistant-") as tmp:
        work = Path(work_dir or tmp)
        url = database_url or f"sqlite:///{work / 'assistant.db'}"
        upgrade(url)
        with action_server(url, log_path=work / "action-server.log", extra_env=extra_env) as action_url:
            agent = Agent.load(str(model_path), tracker_store=CachedSQLTrackerStore(host=url),
                               action_endpoint=EndpointConfig(url=action_url,
                                                               headers={ACTION_TOKEN_HEADER: action_server_token()}))
            driver = AssistantDriver(agent, url)
            try:
                yield driver
            finally:
                driver.close()
                dispose_all(url)
