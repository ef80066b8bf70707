"""What the patient is told when the assistant cannot do its normal turn.

Only the triage level from the NLU step is needed (it runs inside the Rasa server, with no
database or action server), so a warning sign still gets its safety instructions: an
emergency gets the emergency text, an urgent sign is told to call the clinic now (we do not
claim staff have been told), anything else gets an apology, the clinic's number and the
warning signs to act on.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, List

from bot.escalation.levels import ESCALATING_LEVELS

LABEL = "degraded"


@lru_cache(maxsize=1)
def reply_values() -> Dict[str, Any]:
    from bot.config.clinic import load_clinic, reply_values

    return reply_values(load_clinic())


def degraded_texts(level: str) -> List[str]:
    from bot.replies import replies

    key = {"emergency": "triage_emergency", "urgent": "degraded_urgent"}.get(level, "degraded_generic")
    return [replies()(key, **reply_values())]


def level_of(parse_data: Dict[str, Any]) -> str:
    return ((parse_data or {}).get("triage") or {}).get("level") or "none"


def escalates(level: str) -> bool:
    return level in ESCALATING_LEVELS


def escalate(sender_id: str, channel: str, text: str, parse: Dict[str, Any], level: str,
             actor: str = "assistant (degraded)") -> None:
    """Record a warning sign from the Rasa server itself (spooled if the database is down)."""
    from bot.escalation.store import symptom_records
    from bot.resilience.escalations import record_escalation
    from bot.config.settings import Settings

    findings = ((parse or {}).get("triage") or {}).get("findings") or []
    s = Settings.from_env()
    record_escalation(
        s.database_url, s.notifiers, conversation_id=sender_id, channel=channel, sender_id=sender_id,
        level=level, reason="symptoms", trigger_message=text,
        symptoms=symptom_records(findings),
        actor=actor,
    )
