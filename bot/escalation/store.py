"""Create and update escalations, with their trail and outbox rows, in one transaction each.

One open escalation per conversation: a second warning sign, a request for a person or a
passed-on question updates it (raising its level if needed) instead of duplicating it, so
staff see one queue item per patient.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.escalation.levels import ESCALATING_LEVELS, more_pressing_reason, more_serious, rank
from bot.storage.db import transaction
from bot.storage.models import Escalation, EscalationEvent, OutboxMessage, utcnow

OPEN_STATUSES = ("open", "acknowledged")


def symptom_records(findings: Iterable[dict]) -> List[dict]:
    """What an escalation keeps of the triage findings: the signs that counted, and where
    they are in the patient's message."""
    return [{k: f.get(k) for k in ("label", "level", "text", "start", "end")}
            for f in findings if f.get("level") != "none"]


@dataclass(frozen=True)
class EscalationResult:
    escalation_id: int
    level: str
    created: bool
    level_raised: bool


class EscalationStore:
    def __init__(self, database_url: str, notifiers: Sequence[str] = ()):
        self.url = database_url
        self.notifiers = tuple(notifiers)

    def raise_or_update(self, *args, **kwargs) -> EscalationResult:
        """Create the conversation's open escalation, or update it. If another writer created
        it at the same moment, the unique index refuses the second insert and this becomes an
        update."""
        try:
            return self._raise_or_update(*args, **kwargs)
        except IntegrityError:
            return self._raise_or_update(*args, **kwargs)

    def _raise_or_update(
        self,
        conversation_id: str,
        channel: str,
        sender_id: str,
        level: str,
        reason: str,
        trigger_message: str,
        symptoms: Iterable[dict] = (),
        actor: str = "assistant",
    ) -> EscalationResult:
        symptoms = list(symptoms)
        with transaction(self.url) as s:
            current = s.scalars(
                select(Escalation)
                .where(Escalation.conversation_id == conversation_id,
                       Escalation.status.in_(OPEN_STATUSES))
                .order_by(Escalation.id.desc())
                .limit(1)
                .with_for_update()
            ).first()
            if current is None:
                current = Escalation(
                    conversation_id=conversation_id, channel=channel, sender_id=sender_id,
                    level=level, reason=reason, status="open", trigger_message=trigger_message,
                    symptoms=json.dumps(symptoms),
                )
                s.add(current)
                s.flush()
                self._trail(s, current.id, actor, "raised", f"{reason}, level {level}")
                self._notify(s, current, "new")
                return EscalationResult(current.id, level, True, False)

            raised = rank(level) > rank(current.level)
            if raised and level in ESCALATING_LEVELS and current.level not in ESCALATING_LEVELS:
                # Now a warning sign: back to "open" so it is seen as new, and the safety net
                # counts from this moment, not from an older request for a person.
                current.status = "open"
                current.created_at = utcnow()
            current.level = more_serious(current.level, level)
            current.reason = more_pressing_reason(current.reason, reason)
            if symptoms:
                current.symptoms = json.dumps(json.loads(current.symptoms or "[]") + symptoms)
            if raised:
                # The new, more serious message is what staff must read first.
                current.trigger_message = trigger_message
            current.updated_at = utcnow()
            self._trail(s, current.id, actor, "level_raised" if raised else "updated",
                        f"{reason}, level {level}")
            if raised:
                self._notify(s, current, "level_raised")
            return EscalationResult(current.id, current.level, False, raised)

    def add_details(self, escalation_id: int, actor: str = "patient", **fields) -> None:
        allowed = {"contact_name", "contact", "treatment_date"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown escalation detail(s): {sorted(unknown)}")
        with transaction(self.url) as s:
            esc = s.get(Escalation, escalation_id)
            if esc is None:
                return
            for key, value in fields.items():
                if value:
                    setattr(esc, key, value)
            esc.updated_at = utcnow()
            self._trail(s, escalation_id, actor, "details", ", ".join(sorted(k for k, v in fields.items() if v)))

    def open_for(self, conversation_id: str) -> Optional[Escalation]:
        with transaction(self.url) as s:
            return s.scalars(
                select(Escalation)
                .where(Escalation.conversation_id == conversation_id,
                       Escalation.status.in_(OPEN_STATUSES))
                .order_by(Escalation.id.desc())
            ).first()

    def all_for(self, conversation_id: str) -> List[Escalation]:
        with transaction(self.url) as s:
            return list(s.scalars(select(Escalation)
                                  .where(Escalation.conversation_id == conversation_id)
                                  .order_by(Escalation.id)))

    @staticmethod
    def _trail(s, escalation_id: int, actor: str, action: str, detail: str) -> None:
        s.add(EscalationEvent(escalation_id=escalation_id, actor=actor, action=action, detail=detail))

    def _notify(self, s, esc: Escalation, event: str) -> None:
        # Ids and the level only: the message text stays in the database, not in chat apps.
        payload = json.dumps({"event": event, "escalation_id": esc.id, "level": esc.level,
                              "reason": esc.reason, "channel": esc.channel})
        for notifier in self.notifiers:
            s.add(OutboxMessage(escalation_id=esc.id, notifier=notifier, payload=payload))


MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024


def add_attachment(url: str, escalation_id: int, content_type: str, data: bytes) -> int:
    """Keep a patient's photo with their escalation, for staff only (size-limited)."""
    from bot.storage.models import EscalationAttachment

    if len(data) > MAX_ATTACHMENT_BYTES:
        raise ValueError(f"attachment of {len(data)} bytes is over the {MAX_ATTACHMENT_BYTES}-byte limit")
    with transaction(url) as s:
        row = EscalationAttachment(escalation_id=escalation_id, content_type=content_type,
                                   size=len(data), data=data)
        s.add(row)
        s.flush()
        s.add(EscalationEvent(escalation_id=escalation_id, actor="patient", action="attachment",
                              detail=f"{content_type}, {len(data)} bytes"))
        return row.id
