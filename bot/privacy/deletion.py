"""Purge a conversation's content, keeping an audit stub (id, time, why, levels raised, counts).

One machinery for two reasons: a patient's request ("delete my data", `request_deletion`) and
the end of the retention period (`bot.privacy.retention`). Purged: Rasa's tracker events of
the conversation (every text, parse result and slot, so names and phone numbers too), its
unanswered-question and served-answer logs, the personal fields of its escalations (trigger
message, matched symptoms with their text, contact name and details, treatment date), the
text of staff notes and replies on their trail, photos, any key of a delivered outbox
payload beyond ids and levels, and the conversation's dead letters in the spool. Kept: escalation rows with ids, channel, level, reason,
status, assignee, outcome and timestamps (statistics still work), the rest of their trail,
and the stub in `data_deletions`.

Everything is bounded by a cutoff: only what existed before it is purged, so a warning sign
reported afterwards reaches staff with its content. Rasa writes the current session back
after the turn that asked for deletion (its SQL store appends "the events it has not stored
yet", which after a delete is all of them), so a stub keeps its cutoff and the worker sweeps
it again for a while, removing any event older than the cutoff that reappears.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, fields
from typing import List, Optional

from sqlalchemy import and_, delete, exists, func, inspect, or_, select, update
from sqlalchemy.orm import Session

from bot.resilience.spool import purge_dead_letters
from bot.storage.db import transaction
from bot.storage.models import (DataDeletion, Escalation, EscalationAttachment, EscalationEvent, OutboxMessage,
                                ServedAnswer, UnansweredQuestion, utcnow)
from bot.storage.rasa_events import events_table as _rasa_events

PATIENT_REQUEST = "patient_request"
RETENTION = "retention"
SWEEP_FOR = dt.timedelta(hours=1)

# Escalation fields that hold what the patient said or who they are.
PERSONAL_FIELDS = ("trigger_message", "symptoms", "contact_name", "contact", "treatment_date")
# Trail entries whose detail is free text (a staff note, a staff reply to the patient).
TEXT_ACTIONS = ("note", "reply")
PLACEHOLDERS = {PATIENT_REQUEST: "(deleted at the patient's request)",
                RETENTION: "(purged after the retention period)"}
_TRAIL = {PATIENT_REQUEST: ("patient", "conversation content deleted at the patient's request"),
          RETENTION: ("system", "conversation content purged at the end of the retention period")}
PURGE_ACTION = "data_deleted"
# What an outbox payload may keep once delivered: ids and levels, never patient text.
OUTBOX_KEYS = frozenset({"event", "escalation_id", "level", "reason", "channel", "conversation_id"})
# pg_advisory_xact_lock(namespace, hashtext(conversation id)): one purge of a conversation at a time.
_LOCK_NAMESPACE = 72911


@dataclass
class Purged:
    """How much of a conversation one purge removed."""

    tracker_events: int = 0
    unanswered_questions: int = 0
    served_answers: int = 0
    escalations: int = 0
    trail_texts: int = 0
    attachments: int = 0
    outbox_payloads: int = 0

    def total(self) -> int:
        return sum(asdict(self).values())

    def add(self, other: "Purged") -> "Purged":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def as_dict(self) -> dict:
        return asdict(self)


def _epoch(naive_utc: dt.datetime) -> float:
    return naive_utc.replace(tzinfo=dt.timezone.utc).timestamp()


def has_tracker_store(session: Session) -> bool:
    """Whether Rasa's `events` table is in this database (not with an in-memory tracker store)."""
    return inspect(session.connection()).has_table(_rasa_events.name)


def lock_conversation(session: Session, conversation_id: str) -> None:
    """Serialise purges of one conversation across workers, until the transaction ends. On
    PostgreSQL an advisory lock; SQLite has one writer at a time anyway, and every statement
    of a purge is conditional, so a second purge finds nothing left and writes no stub."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_LOCK_NAMESPACE, func.hashtext(conversation_id))))


def has_personal_fields():
    return or_(*(getattr(Escalation, name).isnot(None) for name in PERSONAL_FIELDS))


def unpurged_text():
    """Trail entries still holding free text."""
    return and_(EscalationEvent.action.in_(TEXT_ACTIONS), EscalationEvent.detail.isnot(None),
                EscalationEvent.detail.notin_(list(PLACEHOLDERS.values())))


def escalation_levels(session: Session, conversation_id: str) -> str:
    return ",".join(sorted({lvl for (lvl,) in session.execute(
        select(Escalation.level).where(Escalation.conversation_id == conversation_id))}))


def purge_content(session: Session, conversation_id: str, cutoff: dt.datetime, reason: str,
                  tracker_store: bool) -> Purged:
    """Purge, in the caller's transaction, what the conversation held up to `cutoff`. Every
    statement only touches what is still there, so running it again purges nothing."""
    done = Purged()
    no_sync = {"synchronize_session": False}
    done.unanswered_questions = session.execute(
        delete(UnansweredQuestion).where(UnansweredQuestion.conversation_id == conversation_id,
                                         UnansweredQuestion.created_at <= cutoff)
        .execution_options(**no_sync)).rowcount or 0
    done.served_answers = session.execute(
        delete(ServedAnswer).where(ServedAnswer.conversation_id == conversation_id,
                                   ServedAnswer.created_at <= cutoff)
        .execution_options(**no_sync)).rowcount or 0

    ids = list(session.scalars(select(Escalation.id).where(
        Escalation.conversation_id == conversation_id, Escalation.updated_at <= cutoff).order_by(Escalation.id)))
    if ids:
        actor, detail = _TRAIL[reason]
        for esc_id in ids:
            # updated_at is kept: it is the last activity, which statistics and retention read.
            scrubbed = session.execute(
                update(Escalation).where(Escalation.id == esc_id, has_personal_fields())
                .values(**{name: None for name in PERSONAL_FIELDS}, updated_at=Escalation.updated_at)
                .execution_options(**no_sync)).rowcount
            if scrubbed:
                done.escalations += 1
                session.add(EscalationEvent(escalation_id=esc_id, actor=actor, action=PURGE_ACTION, detail=detail))
        done.trail_texts = session.execute(
            update(EscalationEvent).where(EscalationEvent.escalation_id.in_(ids), unpurged_text(),
                                          EscalationEvent.created_at <= cutoff)
            .values(detail=PLACEHOLDERS[reason]).execution_options(**no_sync)).rowcount or 0
        done.attachments = session.execute(
            delete(EscalationAttachment).where(EscalationAttachment.escalation_id.in_(ids),
                                               EscalationAttachment.created_at <= cutoff)
            .execution_options(**no_sync)).rowcount or 0
        # Payloads carry ids and levels by design; anything else a delivered row holds goes.
        # Pending rows are left alone: delivery must go on.
        for row_id, payload in session.execute(select(OutboxMessage.id, OutboxMessage.payload).where(
                OutboxMessage.escalation_id.in_(ids), OutboxMessage.status == "delivered",
                OutboxMessage.created_at <= cutoff)):
            try:
                body = json.loads(payload)
            except ValueError:
                body = None
            kept = {k: v for k, v in body.items() if k in OUTBOX_KEYS} if isinstance(body, dict) else {}
            if kept != body:
                session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                                .values(payload=json.dumps(kept)).execution_options(**no_sync))
                done.outbox_payloads += 1

    if tracker_store:
        done.tracker_events = session.execute(delete(_rasa_events).where(
            _rasa_events.c.sender_id == conversation_id, _rasa_events.c.timestamp <= _epoch(cutoff))).rowcount or 0
    return done


def _count_into(stub: DataDeletion, purged: Purged) -> None:
    previous = Purged(**json.loads(stub.counts)) if stub.counts else Purged()
    stub.counts = json.dumps(previous.add(purged).as_dict(), sort_keys=True)


def purge(url: str, conversation_id: str, cutoff: dt.datetime, reason: str = PATIENT_REQUEST,
          stub_id: Optional[int] = None) -> Purged:
    """Purge the conversation's content up to `cutoff` (naive UTC) in one transaction, adding
    the counts to the stub `stub_id`. Idempotent: sweeping again removes only what reappeared."""
    with transaction(url) as s:
        lock_conversation(s, conversation_id)
        done = purge_content(s, conversation_id, cutoff, reason, has_tracker_store(s))
        if stub_id is not None and done.total():
            _count_into(s.get(DataDeletion, stub_id), done)
    return done


def request_deletion(url: str, conversation_id: str) -> int:
    """Record the request and purge at once what can be purged; returns the stub id."""
    with transaction(url) as s:
        stub = DataDeletion(conversation_id=conversation_id, reason=PATIENT_REQUEST,
                            escalation_levels=escalation_levels(s, conversation_id))
        s.add(stub)
        s.flush()
        stub_id, cutoff = stub.id, stub.requested_at
        stub.cutoff_at = cutoff
    purge(url, conversation_id, cutoff, PATIENT_REQUEST, stub_id)
    purge_dead_letters(sender=conversation_id)
    return stub_id


def sweep(url: str, now: dt.datetime | None = None) -> int:
    """Re-purge recent stubs (either reason) whose conversation has tracker events again, and
    mark stubs complete once their sweep window has passed. Returns how much was removed.

    Only Rasa writing a session back can bring content older than a cutoff back, so only
    stubs whose conversation has events are purged again: one query per round however many
    conversations the retention job purged in the last hour."""
    now = now or utcnow()
    removed = 0
    with transaction(url) as s:
        todo = []
        if has_tracker_store(s):
            todo = s.execute(select(DataDeletion.id, DataDeletion.conversation_id, DataDeletion.reason,
                                    func.coalesce(DataDeletion.cutoff_at, DataDeletion.requested_at))
                             .where(DataDeletion.completed_at.is_(None),
                                    exists().where(_rasa_events.c.sender_id == DataDeletion.conversation_id))
                             .order_by(DataDeletion.id)).all()
    for stub_id, conversation_id, reason, cutoff in todo:
        removed += purge(url, conversation_id, cutoff, reason, stub_id).total()
    with transaction(url) as s:
        s.execute(update(DataDeletion).where(DataDeletion.completed_at.is_(None),
                                             DataDeletion.requested_at < now - SWEEP_FOR)
                  .values(completed_at=now).execution_options(synchronize_session=False))
    return removed


def deleted_at_patient_request(url: str, conversation_id: str) -> bool:
    """The patient asked to delete this conversation: its web chat token no longer opens it."""
    with transaction(url) as s:
        return s.scalar(select(DataDeletion.id).where(DataDeletion.conversation_id == conversation_id,
                                                      DataDeletion.reason == PATIENT_REQUEST).limit(1)) is not None


def stubs(url: str, conversation_id: Optional[str] = None) -> List[DataDeletion]:
    query = select(DataDeletion).order_by(DataDeletion.id)
    if conversation_id is not None:
        query = query.where(DataDeletion.conversation_id == conversation_id)
    with transaction(url) as s:
        return list(s.scalars(query))
