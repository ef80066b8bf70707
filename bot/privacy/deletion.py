"""Delete a conversation's content, keeping an audit stub (id, time, levels raised).

Rasa writes the current session's events back after the turn that asked for deletion (its
SQL store appends "the events it has not stored yet", which after a delete is all of them),
so a deletion keeps its cutoff time and the worker sweeps it again for a while, removing any
event older than the cutoff that reappears.
"""
from __future__ import annotations

import datetime as dt
from typing import List

from sqlalchemy import delete, select, update
from sqlalchemy.exc import OperationalError, ProgrammingError

from bot.storage.db import transaction
from bot.storage.models import (DataDeletion, Escalation, EscalationAttachment, EscalationEvent, ServedAnswer,
                                UnansweredQuestion, utcnow)

SWEEP_FOR = dt.timedelta(hours=1)

from bot.storage.rasa_events import events_table as _rasa_events


def _epoch(naive_utc: dt.datetime) -> float:
    return naive_utc.replace(tzinfo=dt.timezone.utc).timestamp()


def request_deletion(url: str, conversation_id: str) -> int:
    """Record the request and purge at once what can be purged; returns the stub id."""
    with transaction(url) as s:
        levels = sorted({lvl for (lvl,) in s.execute(
            select(Escalation.level).where(Escalation.conversation_id == conversation_id))})
        stub = DataDeletion(conversation_id=conversation_id, escalation_levels=",".join(levels))
        s.add(stub)
        s.flush()
        stub_id, cutoff = stub.id, stub.requested_at
    purge(url, conversation_id, _epoch(cutoff))
    return stub_id


def purge(url: str, conversation_id: str, cutoff: float) -> int:
    """Remove the conversation's content up to `cutoff` (epoch seconds); returns tracker
    events removed. Idempotent: sweeping again removes only what reappeared."""
    cutoff_dt = dt.datetime.fromtimestamp(cutoff, dt.timezone.utc).replace(tzinfo=None)
    with transaction(url) as s:
        # Only what existed when deletion was asked for: a warning sign reported afterwards
        # must reach staff with its content.
        s.execute(delete(UnansweredQuestion).where(UnansweredQuestion.conversation_id == conversation_id,
                                                   UnansweredQuestion.created_at <= cutoff_dt))
        s.execute(delete(ServedAnswer).where(ServedAnswer.conversation_id == conversation_id,
                                             ServedAnswer.created_at <= cutoff_dt))
        ids = [i for (i,) in s.execute(select(Escalation.id).where(
            Escalation.conversation_id == conversation_id, Escalation.trigger_message.isnot(None),
            Escalation.updated_at <= cutoff_dt))]
        if ids:
            s.execute(update(Escalation).where(Escalation.id.in_(ids)).values(
                trigger_message=None, symptoms=None, contact_name=None, contact=None,
                treatment_date=None))
            s.execute(update(EscalationEvent).where(EscalationEvent.escalation_id.in_(ids),
                                                    EscalationEvent.action == "note")
                      .values(detail="(deleted at the patient's request)"))
            s.execute(delete(EscalationAttachment).where(EscalationAttachment.escalation_id.in_(ids),
                                                         EscalationAttachment.created_at <= cutoff_dt))
            for esc_id in ids:
                s.add(EscalationEvent(escalation_id=esc_id, actor="patient", action="data_deleted",
                                      detail="conversation content deleted at the patient's request"))
    try:
        with transaction(url) as s:
            return s.execute(delete(_rasa_events).where(
                _rasa_events.c.sender_id == conversation_id,
                _rasa_events.c.timestamp <= cutoff)).rowcount or 0
    except (OperationalError, ProgrammingError):
        return 0  # no tracker-store table in this database (e.g. an in-memory tracker store)


def sweep(url: str, now: dt.datetime | None = None) -> int:
    """Re-purge recent deletions; mark them complete once their sweep window has passed."""
    now = now or utcnow()
    removed = 0
    with transaction(url) as s:
        recent: List[DataDeletion] = list(s.scalars(
            select(DataDeletion).where(DataDeletion.completed_at.is_(None))))
        todo = [(d.id, d.conversation_id, d.requested_at) for d in recent]
    for stub_id, conversation_id, requested_at in todo:
        removed += purge(url, conversation_id, _epoch(requested_at))
        if now - requested_at > SWEEP_FOR:
            with transaction(url) as s:
                s.get(DataDeletion, stub_id).completed_at = now
    return removed
