"""The safety net: an urgent or emergency escalation that staff have not acknowledged in time
gets the patient a message saying whom to call now. Queued through the outbox (so it is
retried until delivered) and recorded on the escalation's trail."""
from __future__ import annotations

import datetime as dt
import json
from typing import List, Optional, Sequence

from sqlalchemy import select

from bot.escalation.levels import ESCALATING_LEVELS
from bot.storage.db import transaction
from bot.storage.models import Escalation, EscalationEvent, OutboxMessage, utcnow

PATIENT_NOTIFIER = "patient"


def queue_due_safety_nets(url: str, after_minutes: int, staff_notifiers: Sequence[str] = (),
                          now: Optional[dt.datetime] = None) -> List[int]:
    now = now or utcnow()
    cutoff = now - dt.timedelta(minutes=after_minutes)
    queued = []
    with transaction(url) as s:
        due = list(s.scalars(
            select(Escalation).where(
                Escalation.status == "open", Escalation.reason == "symptoms",
                Escalation.level.in_(ESCALATING_LEVELS), Escalation.safety_net_sent_at.is_(None),
                Escalation.created_at <= cutoff)
            .with_for_update(skip_locked=True)))
        for esc in due:
            esc.safety_net_sent_at = now
            s.add(EscalationEvent(escalation_id=esc.id, actor="system", action="safety_net",
                                  detail=f"not acknowledged after {after_minutes} min: patient told whom to call"))
            payload = {"event": "safety_net", "escalation_id": esc.id, "level": esc.level,
                       "reason": esc.reason, "channel": esc.channel, "conversation_id": esc.conversation_id}
            for notifier in (PATIENT_NOTIFIER, *staff_notifiers):
                body = payload if notifier == PATIENT_NOTIFIER else {k: v for k, v in payload.items()
                                                                     if k != "conversation_id"}
                s.add(OutboxMessage(escalation_id=esc.id, notifier=notifier, payload=json.dumps(body)))
            queued.append(esc.id)
    return queued
