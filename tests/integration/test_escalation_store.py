"""Escalations on real SQLite and PostgreSQL: created, updated, never duplicated."""
import json
import threading

from sqlalchemy import func, select

from bot.escalation.store import EscalationStore
from bot.storage.db import transaction
from bot.storage.models import Escalation, EscalationEvent, OutboxMessage


def count(url, model, **where):
    with transaction(url) as s:
        q = select(func.count()).select_from(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return s.scalar(q)


def raise_urgent(store, conv="c1", level="urgent", text="I have a fever"):
    return store.raise_or_update(conversation_id=conv, channel="web", sender_id=conv, level=level,
                                 reason="symptoms", trigger_message=text,
                                 symptoms=[{"label": "FEVER", "level": level, "text": "fever", "start": 9, "end": 14}])


def test_created_with_its_trail_and_one_outbox_row_per_notifier(db_url):
    store = EscalationStore(db_url, notifiers=("log", "webhook"))
    result = raise_urgent(store)
    assert result.created and result.level == "urgent"
    with transaction(db_url) as s:
        esc = s.get(Escalation, result.escalation_id)
        assert (esc.status, esc.reason, esc.trigger_message) == ("open", "symptoms", "I have a fever")
        assert json.loads(esc.symptoms)[0]["label"] == "FEVER"
        rows = list(s.scalars(select(OutboxMessage)))
    assert sorted(r.notifier for r in rows) == ["log", "webhook"]
    assert all("fever" not in r.payload for r in rows)  # no patient text leaves the database
    assert count(db_url, EscalationEvent, action="raised") == 1


def test_second_warning_sign_updates_and_raises_without_duplicates(db_url):
    store = EscalationStore(db_url, notifiers=("log",))
    first = raise_urgent(store)
    second = raise_urgent(store, level="emergency", text="now I can't breathe")
    third = raise_urgent(store, level="urgent", text="and there is pus")
    assert second.escalation_id == first.escalation_id == third.escalation_id
    assert second.level_raised and not third.level_raised
    assert count(db_url, Escalation) == 1
    with transaction(db_url) as s:
        esc = s.get(Escalation, first.escalation_id)
        assert esc.level == "emergency" and esc.trigger_message == "now I can't breathe"
        assert len(json.loads(esc.symptoms)) == 3
    assert count(db_url, OutboxMessage) == 2  # new + level raised; a same-level update is quiet


def test_concurrent_writers_make_one_escalation(db_url):
    store = EscalationStore(db_url)
    errors = []

    def worker(i):
        try:
            raise_urgent(store, text=f"fever {i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert count(db_url, Escalation, conversation_id="c1") == 1


def test_resolved_escalation_lets_a_new_one_open(db_url):
    store = EscalationStore(db_url)
    first = raise_urgent(store)
    with transaction(db_url) as s:
        s.get(Escalation, first.escalation_id).status = "resolved"
    second = raise_urgent(store)
    assert second.created and second.escalation_id != first.escalation_id


def test_details_are_added(db_url):
    store = EscalationStore(db_url)
    esc = raise_urgent(store)
    store.add_details(esc.escalation_id, contact_name="Ana", contact="+34600000000", treatment_date="2026-11-20")
    got = store.open_for("c1")
    assert (got.contact_name, got.contact, got.treatment_date) == ("Ana", "+34600000000", "2026-11-20")
