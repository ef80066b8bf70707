"""Retention: conversations idle for longer than RETENTION_DAYS lose their texts and contact
details everywhere in the database (Rasa's tracker store included), keeping audit stubs;
recent conversations and conversations with an unresolved escalation are untouched.

The data is written through the real code paths: Rasa's SQLTrackerStore for the transcript,
EscalationStore / add_attachment / the console's `act` / KnowledgeLog / the Telegram update
log for our tables; then its timestamps are moved into the past. Each check searches a dump
of every table in the database for the distinctive strings."""
import asyncio
import datetime as dt
import json
import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.slots import TextSlot
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import select, update

from bot.config import paths
from bot.channels.telegram_updates import UpdateLog
from bot.console.review import act
from bot.escalation.store import EscalationStore, add_attachment
from bot.privacy.deletion import PLACEHOLDERS, RETENTION, request_deletion, stubs, sweep
from bot.privacy.retention import RetentionJob, purge_expired
from bot.serve.processes import project_env
from bot.config.settings import DEFAULT_RETENTION_DAYS, Settings, SettingsError, parse_retention_days
from bot.storage.db import transaction
from bot.storage.knowledge_log import KnowledgeLog
from bot.storage.models import (AuditEntry, Escalation, EscalationAttachment, EscalationEvent, OutboxMessage,
                                ServedAnswer, TelegramUpdate, UnansweredQuestion, utcnow)

NOW = utcnow()
OLD = NOW - dt.timedelta(days=400)
RECENT = NOW - dt.timedelta(days=10)
SLOTS = [TextSlot(name, mappings=[{"type": "custom"}], influence_conversation=False)
         for name in ("contact_name", "contact", "treatment_date")]
# Where a conversation's text or contact details end up; each is suffixed to its marker.
PLACES = ("msg", "span", "bot", "name", "phone", "email", "note", "reply", "photo", "question", "outbox", "tg")


def epoch(at: dt.datetime) -> float:
    return at.replace(tzinfo=dt.timezone.utc).timestamp()


def tracker_events(marker, at):
    t = epoch(at)
    text = f"since the injection my scalp is hot and oozing pus {marker}-msg"
    triage = {"level": "urgent", "findings": [{"label": "PUS", "text": f"oozing pus {marker}-span",
                                               "start": 33, "end": 43}]}
    return [
        ActionExecuted("action_session_start", timestamp=t),
        SessionStarted(timestamp=t),
        ActionExecuted("action_listen", timestamp=t),
        UserUttered(text, intent={"name": "report_symptom", "confidence": 1.0},
                    parse_data={"text": text, "intent": {"name": "report_symptom", "confidence": 1.0},
                                "entities": [], "triage": triage},
                    timestamp=t + 1, input_channel="telegram", metadata={"first_name": f"{marker}-name"}),
        ActionExecuted("action_report_symptom", timestamp=t + 2),
        BotUttered(f"A nurse will call you back shortly, {marker}-bot", metadata={"label": "triage_urgent"},
                   timestamp=t + 2),
        SlotSet("contact_name", f"{marker}-name", timestamp=t + 3),
        SlotSet("contact", f"+1 555 {marker}-phone", timestamp=t + 3),
        SlotSet("treatment_date", "2024-01-02", timestamp=t + 3),
        ActionExecuted("action_listen", timestamp=t + 4),
    ]


def save_tracker(url, conv, events):
    """Through Rasa's own SQL tracker store (which creates its `events` table if needed)."""
    store = SQLTrackerStore(host=url)
    try:
        tracker = DialogueStateTracker.from_events(conv, events, slots=SLOTS)
        asyncio.run(store.save(tracker))
    finally:
        store.engine.dispose()
    return tracker


def escalation_data(url, conv, marker, at, resolved=True):
    """An urgent escalation with details, a photo, a note, a reply; moved back to `at`."""
    store = EscalationStore(url, notifiers=("log",))
    esc = store.raise_or_update(
        conversation_id=conv, channel="telegram", sender_id=conv, level="urgent", reason="symptoms",
        trigger_message=f"since the injection my scalp is hot and oozing pus {marker}-msg",
        symptoms=[{"label": "PUS", "level": "urgent", "text": f"oozing pus {marker}-span", "start": 33, "end": 43}])
    eid = esc.escalation_id
    store.add_details(eid, contact_name=f"{marker}-name", contact=f"{marker}-email@example.org",
                      treatment_date="2024-01-02")
    add_attachment(url, eid, "image/jpeg", b"\xff\xd8\xff" + f"{marker}-photo".encode())
    act(url, eid, "ana", "acknowledge")
    act(url, eid, "ana", "note", note=f"called, no answer; {marker}-note")
    act(url, eid, "ana", "reply", text=f"Please come in today at 3pm, {marker}-reply")
    if resolved:
        act(url, eid, "ana", "resolve", outcome="appointment_booked")
    with transaction(url) as s:
        # A delivered notification whose payload held text (as an older payload format did).
        s.add(OutboxMessage(escalation_id=eid, notifier="webhook", status="delivered", delivered_at=at,
                            payload=json.dumps({"event": "new", "escalation_id": eid, "level": "urgent",
                                                "text": f"{marker}-outbox"})))
        s.execute(update(Escalation).where(Escalation.id == eid).values(
            created_at=at, updated_at=at, acknowledged_at=at, resolved_at=at if resolved else None))
        for model in (EscalationEvent, EscalationAttachment, OutboxMessage):
            s.execute(update(model).where(model.escalation_id == eid).values(created_at=at))
    return eid


def knowledge_data(url, conv, marker, at):
    log = KnowledgeLog(url)
    log.record_unanswered(conv, "telegram", f"do you also treat beards {marker}-question", "out_of_scope",
                          "kb_cost", 0.31)
    log.record_served(conv, "telegram", "side_effects", "abc123", "classifier", 0.93)
    with transaction(url) as s:
        for model in (UnansweredQuestion, ServedAnswer):
            s.execute(update(model).where(model.conversation_id == conv).values(created_at=at))


def telegram_update(url, update_id, marker, at):
    """An update received but never processed: its payload still holds text and name."""
    UpdateLog(url).record(update_id, {"update_id": update_id, "message": {
        "text": f"hello {marker}-tg", "from": {"first_name": f"{marker}-name"}}})
    with transaction(url) as s:
        s.execute(update(TelegramUpdate).where(TelegramUpdate.update_id == update_id).values(received_at=at))


def dump(url) -> str:
    """Every value of every row of every table, as text."""
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    out = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(table.select()):
                out.append(table.name + ": " + " | ".join(
                    bytes(v).decode("latin-1") if isinstance(v, (bytes, memoryview)) else str(v) for v in row))
    engine.dispose()
    return "\n".join(out)


def traces(text, marker):
    return sorted(place for place in PLACES if f"{marker}-{place}" in text)


def test_idle_conversations_are_purged_everywhere_and_others_untouched(db_url):
    # Idle for 400 days, escalation resolved: everything goes.
    save_tracker(db_url, "c-old", tracker_events("Kestrel", OLD))
    old_esc = escalation_data(db_url, "c-old", "Kestrel", OLD)
    knowledge_data(db_url, "c-old", "Kestrel", OLD)
    telegram_update(db_url, 1001, "Kestrel", OLD)
    # Idle for 400 days, a chat without escalation: goes too.
    save_tracker(db_url, "c-old-chat", tracker_events("Marmot", OLD))
    knowledge_data(db_url, "c-old-chat", "Marmot", OLD)
    # Active 10 days ago: kept.
    save_tracker(db_url, "c-recent", tracker_events("Ocelot", RECENT))
    escalation_data(db_url, "c-recent", "Ocelot", RECENT)
    knowledge_data(db_url, "c-recent", "Ocelot", RECENT)
    telegram_update(db_url, 1002, "Ocelot", RECENT)
    # Idle for 400 days but its escalation was never resolved: kept for staff.
    save_tracker(db_url, "c-open", tracker_events("Pangolin", OLD))
    open_esc = escalation_data(db_url, "c-open", "Pangolin", OLD, resolved=False)
    # Old escalation and logs, but the patient wrote again 2 days ago: the conversation is active.
    save_tracker(db_url, "c-back", tracker_events("Quokka", OLD) + tracker_events("Quokka", NOW - dt.timedelta(days=2)))
    escalation_data(db_url, "c-back", "Quokka", OLD)
    knowledge_data(db_url, "c-back", "Quokka", OLD)

    before = dump(db_url)
    every_place = ["bot", "email", "msg", "name", "note", "outbox", "phone", "photo", "question", "reply", "span", "tg"]
    assert traces(before, "Kestrel") == every_place  # the test data really is in all those places
    assert traces(before, "Marmot") == ["bot", "msg", "name", "phone", "question", "span"]
    with transaction(db_url) as s:
        audit_rows = s.scalar(select(sa.func.count()).select_from(AuditEntry))
        old_before = s.get(Escalation, old_esc)
        kept_fields = {k: getattr(old_before, k) for k in ("id", "conversation_id", "channel", "sender_id", "level",
                                                           "reason", "status", "outcome", "created_at", "updated_at",
                                                           "acknowledged_at", "resolved_at")}

    result = purge_expired(db_url, 365, now=NOW)

    assert sorted(result.purged) == ["c-old", "c-old-chat"]
    assert result.kept_open == {"c-open": [open_esc]}
    assert result.telegram_updates == 1
    after = dump(db_url)
    assert traces(after, "Kestrel") == [] and traces(after, "Marmot") == []
    assert traces(after, "Ocelot") == every_place
    assert traces(after, "Pangolin") == ["bot", "email", "msg", "name", "note", "outbox", "phone", "photo", "reply",
                                         "span"]
    assert traces(after, "Quokka") == ["bot", "email", "msg", "name", "note", "outbox", "phone", "photo",
                                       "question", "reply", "span"]

    with transaction(db_url) as s:
        old = s.get(Escalation, old_esc)
        # The escalation stays for statistics: ids, level, status, outcome, timestamps.
        assert {k: getattr(old, k) for k in kept_fields} == kept_fields
        assert (old.trigger_message, old.symptoms, old.contact_name, old.contact, old.treatment_date) == (None,) * 5
        trail = {e.action: e for e in s.scalars(select(EscalationEvent).where(EscalationEvent.escalation_id == old_esc))}
        assert trail["note"].detail == trail["reply"].detail == PLACEHOLDERS[RETENTION]
        assert trail["data_deleted"].actor == "system" and "retention" in trail["data_deleted"].detail
        assert trail["resolve"].detail == "Appointment booked"
        assert s.scalar(select(sa.func.count()).select_from(AuditEntry)) == audit_rows  # the audit log is kept
        assert s.get(TelegramUpdate, 1001).status == "expired" and s.get(TelegramUpdate, 1002).status == "received"

    old_stubs, chat_stubs = stubs(db_url, "c-old"), stubs(db_url, "c-old-chat")
    assert len(old_stubs) == 1 and len(chat_stubs) == 1 and stubs(db_url, "c-recent") == []
    stub = old_stubs[0]
    assert stub.reason == RETENTION and stub.escalation_levels == "urgent"
    assert stub.cutoff_at == NOW - dt.timedelta(days=365) and stub.requested_at == NOW
    assert json.loads(stub.counts) == {"tracker_events": 10, "unanswered_questions": 1, "served_answers": 1,
                                       "escalations": 1, "trail_texts": 2, "attachments": 1, "outbox_payloads": 1}
    assert json.loads(chat_stubs[0].counts)["tracker_events"] == 10

    # Idempotent: a second run finds nothing and writes nothing.
    again = purge_expired(db_url, 365, now=NOW + dt.timedelta(minutes=1))
    assert again.purged == {} and again.telegram_updates == 0 and again.kept_open == {"c-open": [open_esc]}
    assert dump(db_url) == after

    # Once staff resolve it, the open one is purged after a further retention period.
    act(db_url, open_esc, "ana", "resolve", outcome="advice_given")
    assert "c-open" not in purge_expired(db_url, 365).purged
    later = purge_expired(db_url, 365, now=utcnow() + dt.timedelta(days=366))
    assert "c-open" in later.purged and traces(dump(db_url), "Pangolin") == []


def test_events_rasa_writes_back_after_the_purge_are_swept(db_url):
    """A patient returning during the purge: Rasa appends the session it loaded before (all of
    it, since none is stored any more). The sweep removes what is older than the cutoff."""
    tracker = save_tracker(db_url, "c-race", tracker_events("Wombat", OLD))
    assert "c-race" in purge_expired(db_url, 365).purged
    assert traces(dump(db_url), "Wombat") == []
    tracker.update(UserUttered("hello again Wombat-new", timestamp=epoch(utcnow())))
    store = SQLTrackerStore(host=db_url)
    try:
        asyncio.run(store.save(tracker))
    finally:
        store.engine.dispose()
    assert traces(dump(db_url), "Wombat") == ["bot", "msg", "name", "phone", "span"]  # written back

    assert sweep(db_url) == 10
    text = dump(db_url)
    assert traces(text, "Wombat") == [] and "Wombat-new" in text  # the new message stays
    (stub,) = stubs(db_url, "c-race")
    assert json.loads(stub.counts)["tracker_events"] == 20 and stub.completed_at is None
    sweep(db_url, now=utcnow() + dt.timedelta(hours=2))
    assert stubs(db_url, "c-race")[0].completed_at is not None


def test_two_workers_at_once_purge_each_conversation_once(db_url):
    convs = [f"c-par-{i}" for i in range(8)]
    for i, conv in enumerate(convs):
        save_tracker(db_url, conv, tracker_events(f"Narwhal{i}x", OLD))
        knowledge_data(db_url, conv, f"Narwhal{i}x", OLD)
    start, results, errors = threading.Barrier(2), [], []

    def worker():
        try:
            start.wait()
            results.append(purge_expired(db_url, 365))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    purged = [conv for r in results for conv in r.purged]
    assert sorted(purged) == convs  # each by exactly one of the two
    assert sorted(d.conversation_id for d in stubs(db_url)) == convs
    text = dump(db_url)
    assert not any(f"Narwhal{i}x-" in text for i in range(8))


def test_a_backlog_is_worked_through_in_batches(db_url):
    for i in range(5):
        save_tracker(db_url, f"c-batch-{i}", tracker_events(f"Tapir{i}x", OLD))
    first = purge_expired(db_url, 365, limit=2)
    assert len(first.purged) == 2 and first.more
    second = purge_expired(db_url, 365, limit=2)
    assert len(second.purged) == 2 and second.more and not set(first.purged) & set(second.purged)
    third = purge_expired(db_url, 365, limit=2)
    assert len(third.purged) == 1 and not third.more
    assert len(stubs(db_url)) == 5


def test_the_job_runs_at_start_then_hourly_and_at_once_while_a_backlog_remains(db_url):
    for i in range(3):
        save_tracker(db_url, f"c-job-{i}", tracker_events(f"Dugong{i}x", OLD))
    clock = [1000.0]
    job = RetentionJob(db_url, 365, batch=2, clock=lambda: clock[0])
    assert len(job.run_if_due().purged) == 2  # at start; a backlog remains
    assert len(job.run_if_due().purged) == 1  # the next round goes on at once
    assert job.run_if_due() is None  # nothing more until an hour has passed
    save_tracker(db_url, "c-job-late", tracker_events("Dugong9x", OLD))
    clock[0] += 3599
    assert job.run_if_due() is None
    clock[0] += 2
    assert list(job.run_if_due().purged) == ["c-job-late"]


def test_a_patients_deletion_also_removes_staff_notes_and_replies(db_url):
    eid = escalation_data(db_url, "c-del", "Axolotl", utcnow() - dt.timedelta(minutes=5), resolved=False)
    request_deletion(db_url, "c-del")
    assert traces(dump(db_url), "Axolotl") == []
    (stub,) = stubs(db_url, "c-del")
    assert stub.reason == "patient_request" and json.loads(stub.counts)["trail_texts"] == 2
    with transaction(db_url) as s:
        assert s.get(Escalation, eid).status == "acknowledged"  # still in front of staff, without content


@pytest.mark.parametrize("raw, days", [(None, DEFAULT_RETENTION_DAYS), ("", DEFAULT_RETENTION_DAYS), ("30", 30),
                                       (" 730 ", 730), ("OFF", None), ("off", None), ("36500", 36500)])
def test_retention_setting(raw, days):
    assert parse_retention_days(raw) == days
    assert Settings(database_url="sqlite://", retention=raw).retention_days == days


@pytest.mark.parametrize("raw", ["0", "-1", "30.5", "1e3", "365d", "never", "36501", "ten"])
def test_a_malformed_retention_setting_is_refused(raw):
    with pytest.raises(SettingsError, match="RETENTION_DAYS"):
        parse_retention_days(raw)


def test_the_worker_purges_and_refuses_a_malformed_setting(db_url):
    save_tracker(db_url, "c-w", tracker_events("Okapi", NOW - dt.timedelta(days=40)))

    def worker(retention):
        env = project_env(DATABASE_URL=db_url, RETENTION_DAYS=retention, STAFF_NOTIFIERS="log")
        env.pop("RASA_API_TOKEN", None)
        return subprocess.run([sys.executable, "-m", "bot.serve.worker", "--once"], cwd=paths.ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    bad = worker("0")
    assert bad.returncode == 2 and "RETENTION_DAYS='0' is not valid" in bad.stderr and "'off'" in bad.stderr
    assert worker("off").returncode == 0 and "Okapi-msg" in dump(db_url)
    assert worker("").returncode == 0 and "Okapi-msg" in dump(db_url)  # default: a year
    assert worker("30").returncode == 0
    assert traces(dump(db_url), "Okapi") == [] and [d.reason for d in stubs(db_url, "c-w")] == [RETENTION]


def test_a_timestamp_no_date_can_hold_keeps_that_conversation_and_stops_nothing(db_url):
    """An event stamped in milliseconds (e.g. appended through Rasa's API) once made every run
    fail; now that conversation counts as active and the others are purged."""
    save_tracker(db_url, "c-ok", tracker_events("Okapi1x", OLD))
    events = tracker_events("Okapi2x", OLD)
    events.append(UserUttered("stamped in milliseconds", timestamp=epoch(OLD) * 1000))
    save_tracker(db_url, "c-ms", events)
    result = purge_expired(db_url, 365)
    assert set(result.purged) == {"c-ok"}
    assert "Okapi2x" in dump(db_url) and "Okapi1x" not in dump(db_url)
