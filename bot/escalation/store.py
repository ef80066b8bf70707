"""Create and update escalations, with their trail and outbox rows, in one transaction each.

One open escalation per conversation: a second warning sign, a request for a person or a
passed-on question updates it (raising its level if needed) instead of duplicating it, so
staff see one queue item per patient.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence

from sqlalchemy import func, select, update
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
DEFAULT_MAX_PHOTOS = 10
MAX_PHOTOS_CEILING = 100
PHOTOS_REFUSED = "photos_refused"  # trail action: the patient was told no more photos are kept


def parse_max_photos(raw: Optional[str]) -> int:
    """MAX_PHOTOS_PER_ESCALATION: a whole number from 1 to 100 (unset or empty: 10). 0 is
    refused rather than guessed at: read as "no limit" it would undo the limit, read as "no
    photos" it would silently stop keeping what patients send."""
    from bot.config.settings import SettingsError

    if raw is None or not raw.strip():
        return DEFAULT_MAX_PHOTOS
    value = raw.strip()
    if value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_PHOTOS_CEILING:
        return int(value)
    raise SettingsError(
        f"MAX_PHOTOS_PER_ESCALATION={raw!r} is not valid: give a whole number from 1 to {MAX_PHOTOS_CEILING} "
        f"(photos a patient's Telegram messages can add to one escalation; default {DEFAULT_MAX_PHOTOS})")


def max_photos() -> int:
    return parse_max_photos(os.environ.get("MAX_PHOTOS_PER_ESCALATION"))


@dataclass(frozen=True)
class AttachmentResult:
    # "ok": kept; "tell": refused, the escalation has its photos (tell the patient now);
    # "drop": refused, and the patient was already told.
    verdict: str
    attachment_id: Optional[int] = None


def _lock_for_photos(s, escalation_id: int) -> None:
    """Serialise photo writes to one escalation, so that the count read next is the count the
    insert is checked against: the first statement is a write, which takes SQLite's write lock
    before anything is read and locks the escalation's row on PostgreSQL. A photo is activity,
    so updated_at is the value to write."""
    touched = s.execute(update(Escalation).where(Escalation.id == escalation_id)
                        .values(updated_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    if not touched:
        raise ValueError(f"no escalation {escalation_id}")


def _room(s, escalation_id: int, cap: int) -> str:
    """"ok" if another photo may be kept; otherwise "tell" the first time since the last kept
    photo (recorded on the trail, so it holds across restarts and replicas), then "drop"."""
    from bot.storage.models import EscalationAttachment

    kept = s.scalar(select(func.count()).select_from(EscalationAttachment)
                    .where(EscalationAttachment.escalation_id == escalation_id)) or 0
    if kept < cap:
        return "ok"
    last = s.scalar(select(EscalationEvent.action)
                    .where(EscalationEvent.escalation_id == escalation_id,
                           EscalationEvent.action.in_(("attachment", PHOTOS_REFUSED)))
                    .order_by(EscalationEvent.id.desc()).limit(1))
    if last == PHOTOS_REFUSED:
        return "drop"
    s.add(EscalationEvent(escalation_id=escalation_id, actor="patient", action=PHOTOS_REFUSED,
                          detail=f"photo limit of {cap} reached; further photos not kept"))
    return "tell"


def photo_room(url: str, escalation_id: int, cap: Optional[int] = None) -> str:
    """Whether one more photo may be kept with the escalation ("ok", "tell" or "drop", as in
    `_room`): asked before a photo is downloaded, so a refused one is never fetched."""
    cap = max_photos() if cap is None else cap
    with transaction(url) as s:
        _lock_for_photos(s, escalation_id)
        return _room(s, escalation_id, cap)


def add_attachment(url: str, escalation_id: int, content_type: str, data: bytes,
                   cap: Optional[int] = None) -> AttachmentResult:
    """Keep a patient's photo with their escalation, for staff only: at most
    MAX_ATTACHMENT_BYTES each and `cap` (MAX_PHOTOS_PER_ESCALATION) per escalation, however
    many arrive at once. Blocking: an async caller runs it in a thread."""
    from bot.storage.models import EscalationAttachment

    if len(data) > MAX_ATTACHMENT_BYTES:
        raise ValueError(f"attachment of {len(data)} bytes is over the {MAX_ATTACHMENT_BYTES}-byte limit")
    cap = max_photos() if cap is None else cap
    with transaction(url) as s:
        _lock_for_photos(s, escalation_id)
        verdict = _room(s, escalation_id, cap)
        if verdict != "ok":
            return AttachmentResult(verdict)
        row = EscalationAttachment(escalation_id=escalation_id, content_type=content_type,
                                   size=len(data), data=data)
        s.add(row)
        s.flush()
        s.add(EscalationEvent(escalation_id=escalation_id, actor="patient", action="attachment",
                              detail=f"{content_type}, {len(data)} bytes"))
        return AttachmentResult("ok", row.id)


def conversation_paused(url: str, conversation_id: str) -> bool:
    """Whether staff have taken this conversation over (an open escalation pauses the assistant)."""
    with transaction(url) as s:
        return bool(s.scalar(select(func.count()).select_from(Escalation).where(
            Escalation.conversation_id == conversation_id, Escalation.assistant_paused.is_(True),
            Escalation.status != "resolved")))
