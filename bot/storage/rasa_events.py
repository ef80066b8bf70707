"""Read access to Rasa's tracker-store table (`events`, created by Rasa's SQLTrackerStore in
the same database), for the staff console's transcripts and for data deletion."""
from __future__ import annotations

import json
from typing import Any, Dict, List

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from bot.storage.db import transaction

events_table = Table(
    "events", MetaData(),
    Column("id", Integer, primary_key=True), Column("sender_id", String(255)),
    Column("type_name", String(255)), Column("timestamp", Float), Column("data", Text),
)


def message_events(url: str, conversation_id: str) -> List[Dict[str, Any]]:
    """The stored user and bot events of a conversation (every session), oldest first, as
    Rasa serialised them. A database error is raised, not hidden."""
    with transaction(url) as s:
        rows = s.execute(select(events_table.c.data)
                         .where(events_table.c.sender_id == conversation_id,
                                events_table.c.type_name.in_(("user", "bot")))
                         .order_by(events_table.c.id)).scalars().all()
    return [json.loads(data) for data in rows]


def transcript(url: str, conversation_id: str) -> List[Dict[str, Any]]:
    """User and bot messages of a conversation, oldest first, with the triage level of each
    user message (from its parse result)."""
    try:
        with transaction(url) as s:
            rows = s.execute(select(events_table.c.type_name, events_table.c.data)
                             .where(events_table.c.sender_id == conversation_id,
                                    events_table.c.type_name.in_(("user", "bot")))
                             .order_by(events_table.c.id)).all()
    except (OperationalError, ProgrammingError):
        return []
    out = []
    for type_name, data in rows:
        event = json.loads(data)
        item = {"from": type_name, "text": event.get("text") or "", "timestamp": event.get("timestamp")}
        if type_name == "user":
            item["level"] = ((event.get("parse_data") or {}).get("triage") or {}).get("level") or "none"
        else:
            item["label"] = (event.get("metadata") or {}).get("label")
        out.append(item)
    return out
