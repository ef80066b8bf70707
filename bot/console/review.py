"""What the console shows and does: the queue, one escalation, staff actions. Every view of
a conversation and every change is written to the audit log in the same transaction."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any, Dict, List, Optional

from sqlalchemy import func, select

from bot.escalation.levels import rank
from bot.storage.db import transaction
from bot.storage.models import (AuditEntry, Escalation, EscalationAttachment, EscalationEvent, utcnow)
from bot.storage.rasa_events import transcript

OUTCOMES = {"advice_given": "Advice given", "appointment_booked": "Appointment booked",
            "referred": "Referred", "no_action_needed": "No action needed"}
STATUSES = ("open", "acknowledged", "resolved")
LEVELS = ("emergency", "urgent", "routine", "none")


class ReviewError(ValueError):
    pass


def audit(session, actor: str, action: str, target: Optional[str] = None, detail: Optional[str] = None) -> None:
    session.add(AuditEntry(actor=actor, action=action, target=target, detail=detail))


def record_audit(url: str, actor: str, action: str, target: Optional[str] = None, detail: Optional[str] = None) -> None:
    with transaction(url) as s:
        audit(s, actor, action, target, detail)


def _first_sign(esc: Escalation) -> str:
    signs = json.loads(esc.symptoms or "[]")
    if signs:
        return f"{signs[0].get('label', '').replace('_', ' ').lower()}: \"{signs[0].get('text', '')}\""
    return {"human_request": "asked for a person", "question": "question passed on"}.get(esc.reason, esc.reason)


def queue(url: str, status: Optional[str] = None, level: Optional[str] = None,
          now: Optional[dt.datetime] = None) -> List[Dict[str, Any]]:
    """Emergencies first, then by level, then the longest waiting."""
    now = now or utcnow()
    q = select(Escalation)
    q = q.where(Escalation.status == status) if status in STATUSES else \
        q.where(Escalation.status.in_(("open", "acknowledged")))
    if level in LEVELS:
        q = q.where(Escalation.level == level)
    with transaction(url) as s:
        rows = list(s.scalars(q))
    rows.sort(key=lambda e: (-rank(e.level), e.created_at))
    return [{"id": e.id, "level": e.level, "status": e.status, "reason": e.reason, "channel": e.channel,
             "waiting_minutes": int((now - e.created_at).total_seconds() // 60), "first_sign": _first_sign(e),
             "assignee": e.assignee, "paused": e.assistant_paused} for e in rows]


def summary(url: str) -> Dict[str, Any]:
    with transaction(url) as s:
        open_count = s.scalar(select(func.count()).select_from(Escalation)
                              .where(Escalation.status == "open")) or 0
        newest = s.scalar(select(func.max(Escalation.id))) or 0
    return {"open": open_count, "newest_id": newest}


def detail(url: str, escalation_id: int, actor: str) -> Optional[Dict[str, Any]]:
    with transaction(url) as s:
        esc = s.get(Escalation, escalation_id)
        if esc is None:
            return None
        trail = list(s.scalars(select(EscalationEvent).where(EscalationEvent.escalation_id == esc.id)
                               .order_by(EscalationEvent.id)))
        # Ids and sizes only: the bytes are fetched one photo at a time by /attachments/N.
        attachments = [tuple(row) for row in s.execute(
            select(EscalationAttachment.id, EscalationAttachment.content_type, EscalationAttachment.size)
            .where(EscalationAttachment.escalation_id == esc.id).order_by(EscalationAttachment.id))]
        audit(s, actor, "view", f"escalation:{esc.id}")
        conversation = esc.conversation_id
        data = {"escalation": esc, "trail": trail, "attachments": attachments,
                "symptoms": json.loads(esc.symptoms or "[]")}
    messages = transcript(url, conversation)
    trigger = data["escalation"].trigger_message
    for m in messages:
        m["highlight"] = m["from"] == "user" and (m.get("level") in ("urgent", "emergency") or m["text"] == trigger)
    data["transcript"] = messages
    return data


def conversation_of(url: str, escalation_id: int) -> str:
    with transaction(url) as s:
        esc = s.get(Escalation, escalation_id)
        if esc is None:
            raise ReviewError("no such escalation")
        return esc.conversation_id


def act(url: str, escalation_id: int, actor: str, action: str, **params: Any) -> Escalation:
    """acknowledge | assign | note | resolve | takeover | handback."""
    with transaction(url) as s:
        esc = s.get(Escalation, escalation_id)
        if esc is None:
            raise ReviewError("no such escalation")
        detail = None
        if action == "acknowledge":
            if esc.status == "open":
                esc.status, esc.acknowledged_at = "acknowledged", utcnow()
        elif action == "assign":
            esc.assignee = params.get("assignee") or actor
            detail = esc.assignee
        elif action == "note":
            detail = str(params.get("note") or "").strip()
            if not detail:
                raise ReviewError("the note is empty")
            if len(detail) > 4000:
                raise ReviewError("the note is longer than 4000 characters")
        elif action == "resolve":
            outcome = params.get("outcome")
            if outcome not in OUTCOMES:
                raise ReviewError("choose an outcome")
            esc.status, esc.outcome, esc.resolved_at = "resolved", outcome, utcnow()
            esc.assistant_paused, detail = False, OUTCOMES[outcome]
        elif action == "takeover":
            if esc.status == "resolved":
                raise ReviewError("a resolved escalation cannot be taken over")
            esc.assistant_paused, esc.paused_by = True, actor
            if esc.status == "open":
                esc.status, esc.acknowledged_at = "acknowledged", utcnow()
        elif action == "handback":
            esc.assistant_paused, esc.paused_by = False, None
        elif action == "reply":
            detail = (params.get("text") or "").strip()
        else:
            raise ReviewError(f"unknown action '{action}'")
        esc.updated_at = utcnow()
        s.add(EscalationEvent(escalation_id=esc.id, actor=actor, action=action, detail=detail))
        # The audit log gets what happened, not the text of notes or replies.
        audit(s, actor, action, f"escalation:{esc.id}", None if action in ("note", "reply") else detail)
        s.flush()
        s.expunge(esc)
        return esc


def attachment(url: str, attachment_id: int, actor: str):
    with transaction(url) as s:
        att = s.get(EscalationAttachment, attachment_id)
        if att is None:
            return None
        audit(s, actor, "view_attachment", f"escalation:{att.escalation_id}")
        return att.content_type, bytes(att.data)


def audit_entries(url: str, limit: int = 500) -> List[AuditEntry]:
    with transaction(url) as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))

