"""Safety net queued for unacknowledged alerts; deletion sweeps; schema in sync."""
import datetime as dt
import json

from sqlalchemy import select, update

from bot.escalation.safety_net import queue_due_safety_nets
from bot.escalation.store import EscalationStore
from bot.privacy.deletion import request_deletion, sweep
from bot.storage.db import transaction
from bot.storage.knowledge_log import KnowledgeLog
from bot.storage.models import DataDeletion, Escalation, EscalationEvent, OutboxMessage, utcnow


def escalate(url, conv="c1", level="urgent"):
    return EscalationStore(url).raise_or_update(conversation_id=conv, channel="web", sender_id=conv,
                                                level=level, reason="symptoms", trigger_message="fever")


def age(url, minutes):
    with transaction(url) as s:
        s.execute(update(Escalation).values(created_at=utcnow() - dt.timedelta(minutes=minutes)))


def test_unacknowledged_alert_gets_the_safety_net_once(db_url):
    esc = escalate(db_url)
    assert queue_due_safety_nets(db_url, 30, ("log",)) == []  # too early
    age(db_url, 31)
    assert queue_due_safety_nets(db_url, 30, ("log",)) == [esc.escalation_id]
    assert queue_due_safety_nets(db_url, 30, ("log",)) == []  # never twice
    with transaction(db_url) as s:
        e = s.get(Escalation, esc.escalation_id)
        assert e.safety_net_sent_at is not None
        trail = [a for (a,) in s.execute(select(EscalationEvent.action))]
        rows = {r.notifier: json.loads(r.payload) for r in s.scalars(select(OutboxMessage))}
    assert "safety_net" in trail
    assert rows["patient"]["conversation_id"] == "c1" and "conversation_id" not in rows["log"]


def test_acknowledged_or_routine_escalations_get_no_safety_net(db_url):
    escalate(db_url, "c1")
    EscalationStore(db_url).raise_or_update(conversation_id="c2", channel="web", sender_id="c2",
                                            level="none", reason="human_request", trigger_message="a person please")
    with transaction(db_url) as s:
        s.execute(update(Escalation).where(Escalation.conversation_id == "c1").values(status="acknowledged"))
    age(db_url, 120)
    assert queue_due_safety_nets(db_url, 30) == []


def test_deletion_keeps_an_audit_stub_and_sweeps(db_url):
    escalate(db_url, "c1")
    log = KnowledgeLog(db_url)
    log.record_unanswered("c1", "web", "how much is it", "out_of_scope", None, 0.9)
    log.record_served("c1", "web", "side_effects", "abc", "classifier", 0.9)
    stub = request_deletion(db_url, "c1")
    with transaction(db_url) as s:
        esc = s.scalars(select(Escalation)).one()
        assert esc.trigger_message is None and esc.level == "urgent"  # stub: id, time, level
        d = s.get(DataDeletion, stub)
        assert d.escalation_levels == "urgent" and d.completed_at is None
    assert log.unanswered("c1") == [] and log.served("c1") == []
    sweep(db_url, now=utcnow() + dt.timedelta(hours=2))
    with transaction(db_url) as s:
        assert s.get(DataDeletion, stub).completed_at is not None


def test_migrations_match_the_models(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from bot.storage.models import Base

    engine = create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_a_warning_sign_after_a_deletion_keeps_its_content(db_url):
    escalate(db_url, "c9")
    request_deletion(db_url, "c9")
    with transaction(db_url) as s:  # staff resolve the old, emptied escalation
        s.execute(update(Escalation).values(status="resolved"))
    import time

    time.sleep(1.1)  # the new report comes after the deletion's cutoff
    new = EscalationStore(db_url).raise_or_update(conversation_id="c9", channel="web", sender_id="c9",
                                                  level="urgent", reason="symptoms", trigger_message="pus now")
    sweep(db_url)  # the worker keeps sweeping the deletion for a while
    with transaction(db_url) as s:
        assert s.get(Escalation, new.escalation_id).trigger_message == "pus now"


def test_raising_a_request_for_a_person_to_a_warning_sign_reopens_it(db_url):
    store = EscalationStore(db_url)
    first = store.raise_or_update(conversation_id="c10", channel="web", sender_id="c10", level="none",
                                  reason="human_request", trigger_message="a person please")
    with transaction(db_url) as s:
        e = s.get(Escalation, first.escalation_id)
        e.status, e.created_at = "acknowledged", utcnow() - dt.timedelta(hours=2)
    store.raise_or_update(conversation_id="c10", channel="web", sender_id="c10", level="urgent",
                          reason="symptoms", trigger_message="fever")
    with transaction(db_url) as s:
        e = s.get(Escalation, first.escalation_id)
        assert e.status == "open" and e.level == "urgent"
    assert queue_due_safety_nets(db_url, 30) == []  # counted from the warning sign, not from 2 h ago
