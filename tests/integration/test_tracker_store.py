"""Our tracker store (bot/storage/tracker_store.py) keeps each conversation's session in
memory between turns. These tests hold it to what matters: it stores exactly the rows Rasa's
own SQL tracker store would, it hands out what Rasa's store would read back, and it never
serves a stale copy when anybody else (another replica, retention, a deletion) has touched the
conversation's rows. Real SQLite files; the PostgreSQL variant runs in test_replicas.py and
test_assistant_on_postgres.py through the real assistant."""
from __future__ import annotations

import asyncio
import json
import time

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.storage.tracker_store import CachedSQLTrackerStore

DOMAIN = Domain.from_dict({"intents": ["ask", "report"], "slots": {
    "kb_last_entry": {"type": "text", "mappings": [{"type": "custom"}]}}})


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'trackers.db'}"


def store(url, **kwargs):
    return CachedSQLTrackerStore(domain=DOMAIN, host=url, **kwargs)


def stock(url):
    return SQLTrackerStore(domain=DOMAIN, host=url)


def turn(tracker, text, entry):
    """One turn as Rasa logs it: the message, our action, its answer and slot, listen."""
    tracker.update(UserUttered(text, {"name": "ask", "confidence": 0.9}))
    tracker.update(ActionExecuted("action_answer_question"))
    tracker.update(BotUttered(f"answer to {text}", metadata={"kb_entry": entry}))
    tracker.update(SlotSet("kb_last_entry", entry))
    tracker.update(ActionExecuted("action_listen"))


def start(tracker):
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    tracker.update(ActionExecuted("action_listen"))


async def say(s, sender, text, entry):
    """What Rasa's processor does with the store on each message."""
    tracker = await s.get_or_create_tracker(sender, append_action_listen=False)
    if not tracker.events:
        start(tracker)
    turn(tracker, text, entry)
    await s.save(tracker)
    return tracker


def rows(url, sender):
    engine = sa.create_engine(url)
    with engine.connect() as c:
        out = [json.loads(d) for (d,) in c.execute(sa.text(
            "SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender})]
    engine.dispose()
    return out


def user_rows(url, sender):
    return [r["text"] for r in rows(url, sender) if r["event"] == "user"]


def delete_rows(url, sender):
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("DELETE FROM events WHERE sender_id = :s"), {"s": sender})
    engine.dispose()


def dumps(tracker):
    return [e.as_dict() for e in tracker.events] if tracker else None


def texts(tracker):
    return [e.text for e in tracker.events if isinstance(e, UserUttered)]


def test_it_stores_what_rasas_store_stores_and_reads_back_what_rasa_reads(url, tmp_path):
    ours, theirs = store(url), stock(f"sqlite:///{tmp_path / 'stock.db'}")
    for s in (ours, theirs):
        for i in range(4):
            run(say(s, "patient", f"question {i}", f"entry_{i}"))
    ours_rows = rows(url, "patient")
    stock_rows = rows(f"sqlite:///{tmp_path / 'stock.db'}", "patient")
    strip = lambda rs: [{k: v for k, v in r.items() if k != "timestamp"} for r in rs]  # noqa: E731
    assert strip(ours_rows) == strip(stock_rows)
    assert len(ours_rows) == 3 + 4 * 5  # no event written twice, none left out

    cached = run(ours.retrieve("patient"))
    assert ours.hits >= 3  # turns 2-4 and this read came from memory
    assert dumps(cached) == dumps(run(stock(url).retrieve("patient")))
    assert cached.get_slot("kb_last_entry") == "entry_3"
    assert cached.current_state() == run(stock(url).retrieve("patient")).current_state()


def test_a_write_by_another_replica_is_seen_and_nothing_is_duplicated(url):
    a, b = store(url), store(url)
    run(say(a, "patient", "first", "e1"))
    run(say(a, "patient", "second", "e2"))  # a now holds the session in memory
    run(say(b, "patient", "third", "e3"))   # the next message went to the other replica
    tracker = run(say(a, "patient", "fourth", "e4"))
    assert texts(tracker) == ["first", "second", "third", "fourth"]
    assert a.reloads >= 1
    stored = user_rows(url, "patient")
    assert stored == ["first", "second", "third", "fourth"]
    assert dumps(run(b.retrieve("patient"))) == dumps(run(stock(url).retrieve("patient")))


def test_rows_deleted_by_retention_or_a_deletion_request_are_not_served_from_memory(url):
    s = store(url)
    run(say(s, "patient", "my name is Ann, fever", "e1"))
    run(say(s, "patient", "still hot", "e2"))
    assert run(s.retrieve("patient")) is not None
    delete_rows(url, "patient")
    assert run(s.retrieve("patient")) is None
    tracker = run(say(s, "patient", "hello again", "e3"))
    assert texts(tracker) == ["hello again"]
    assert tracker.get_slot("kb_last_entry") == "e3"


def test_a_partial_purge_up_to_a_cutoff_is_seen(url):
    s = store(url)
    run(say(s, "patient", "old message", "e1"))
    cutoff = time.time()
    time.sleep(0.01)  # the new message is stamped after the cutoff
    run(say(s, "patient", "new message", "e2"))
    run(s.retrieve("patient"))
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("DELETE FROM events WHERE sender_id = 'patient' AND timestamp <= :t"), {"t": cutoff})
    engine.dispose()
    assert texts(run(s.retrieve("patient"))) == ["new message"]


def test_what_a_caller_does_to_a_tracker_without_saving_it_is_not_kept(url):
    s = store(url)
    run(say(s, "patient", "first", "e1"))
    tracker = run(s.retrieve("patient"))
    turn(tracker, "a turn that failed before it was saved", "lost")
    again = run(s.retrieve("patient"))
    assert texts(again) == ["first"]
    assert again.get_slot("kb_last_entry") == "e1"
    # ... and saving the abandoned object later does not lose or duplicate anything.
    run(s.save(tracker))
    run(say(s, "patient", "second", "e2"))
    stored = user_rows(url, "patient")
    assert stored == ["first", "a turn that failed before it was saved", "second"]


def test_a_tracker_from_elsewhere_is_saved_by_rasas_own_method(url):
    s = store(url)
    run(say(s, "patient", "first", "e1"))
    # e.g. a tracker written back from the spool after a database outage
    foreign = DialogueStateTracker.from_dict("patient", dumps(run(stock(url).retrieve("patient"))), DOMAIN.slots)
    turn(foreign, "spooled", "e2")
    run(s.save(foreign))
    assert s.fallback_saves == 1
    assert user_rows(url, "patient") == ["first", "spooled"]
    assert texts(run(s.retrieve("patient"))) == ["first", "spooled"]


def test_a_new_session_reads_back_as_rasa_reads_it(url):
    s = store(url)
    run(say(s, "patient", "before", "e1"))
    tracker = run(s.retrieve("patient"))
    time.sleep(0.01)  # sessions are told apart by time, as Rasa does: the new one starts later
    start(tracker)  # the session expired: Rasa starts a new one in the same conversation
    turn(tracker, "after", "e2")
    run(s.save(tracker))
    ours = run(s.retrieve("patient"))
    assert dumps(ours) == dumps(run(stock(url).retrieve("patient")))
    assert texts(ours) == ["after"]


def test_many_conversations_with_a_small_memory_stay_correct(url):
    s = store(url, cache_size=2)
    for round_ in range(3):
        for n in range(5):
            run(say(s, f"patient-{n}", f"message {round_}", f"e{round_}"))
    for n in range(5):
        assert texts(run(s.retrieve(f"patient-{n}"))) == ["message 0", "message 1", "message 2"]
        assert dumps(run(s.retrieve(f"patient-{n}"))) == dumps(run(stock(url).retrieve(f"patient-{n}")))
    assert len(s._kept) == 2


def test_without_memory_it_behaves_as_rasas_store(url):
    s = store(url, cache_size=0)
    for i in range(3):
        run(say(s, "patient", f"q{i}", f"e{i}"))
    assert s.hits == 0
    assert user_rows(url, "patient") == ["q0", "q1", "q2"]


def test_a_deletion_during_the_turn_is_not_undone_by_the_save(url):
    # The patient asks for their data to be deleted: the action server deletes the rows in
    # the middle of the turn, then Rasa saves the tracker it still holds. Rasa's own save
    # would count no rows and write the whole session back; ours appends only the turn.
    s = store(url)
    run(say(s, "patient", "my name is Ann and I have a fever", "e1"))
    tracker = run(s.retrieve("patient"))
    delete_rows(url, "patient")
    turn(tracker, "please delete my data", "deleted")
    run(s.save(tracker))
    assert user_rows(url, "patient") == ["please delete my data"]
    assert texts(run(s.retrieve("patient"))) == ["please delete my data"]


def test_a_committed_save_never_fails_afterwards(url, monkeypatch):
    # Rasa's fail-safe layer retries a save that raises: a save that had already committed
    # would then write its events twice.
    import bot.storage.tracker_store as module

    s = store(url)
    run(say(s, "patient", "first", "e1"))
    monkeypatch.setattr(module, "_read_back", lambda rows: 1 / 0)
    run(say(s, "patient", "second", "e2"))
    monkeypatch.undo()
    run(say(s, "patient", "third", "e3"))
    assert user_rows(url, "patient") == ["first", "second", "third"]


@pytest.mark.parametrize("meanwhile", ["nothing", "evicted", "read outside the lock"])
def test_the_deleted_session_is_not_written_back_whatever_happens_to_the_kept_copy(url, meanwhile):
    s = store(url, cache_size=1)

    async def deletion_turn():
        tracker = await s.get_or_create_tracker("patient", append_action_listen=False)
        delete_rows(url, "patient")  # the action server carries out the deletion request
        if meanwhile == "evicted":
            await say(s, "someone else", "hi", "x")
        elif meanwhile == "read outside the lock":
            await s.exists("patient")
        turn(tracker, "yes, delete my data", "deleted")
        await s.save(tracker)

    run(say(s, "patient", "my name is Ann Smith, 07700 900123", "e1"))
    run(deletion_turn())
    assert user_rows(url, "patient") == ["yes, delete my data"]


def test_a_commit_that_landed_but_raised_is_not_written_twice_on_retry(url, monkeypatch):
    from rasa.core.tracker_store import FailSafeTrackerStore
    import sqlalchemy.engine.base
    import sqlalchemy.exc

    from bot import rasa_ext

    rasa_ext.install_for_rasa()  # the fail-safe layer that retries saves

    # At the transaction itself: our appends commit a Connection's transaction, Rasa's save
    # a Session's, and both end here.
    real_commit, armed = sqlalchemy.engine.base.RootTransaction.commit, []

    def commit_then_lose_the_answer(self):
        real_commit(self)
        if armed:
            armed.clear()
            raise sqlalchemy.exc.OperationalError("COMMIT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(sqlalchemy.engine.base.RootTransaction, "commit", commit_then_lose_the_answer)
    s = FailSafeTrackerStore(store(url))
    run(say(s, "patient", "first", "e1"))

    async def second():
        tracker = await s.retrieve("patient")
        turn(tracker, "second", "e2")
        armed.append(True)
        await s.save(tracker)

    run(second())
    assert not armed  # the commit did raise
    assert user_rows(url, "patient") == ["first", "second"]


def test_a_write_that_failed_before_commit_is_retried_once_even_across_a_new_session(url, monkeypatch):
    from rasa.core.tracker_store import FailSafeTrackerStore
    import sqlalchemy.engine.base
    import sqlalchemy.exc

    from bot import rasa_ext

    rasa_ext.install_for_rasa()

    real_execute, countdown = sqlalchemy.engine.base.Connection.execute, []

    def third_insert_fails(self, statement, *args, **kwargs):
        if countdown and getattr(statement, "is_insert", False):
            countdown[0] -= 1
            if countdown[0] == 0:
                countdown.clear()
                raise sqlalchemy.exc.OperationalError("INSERT", {}, Exception("connection lost"))
        return real_execute(self, statement, *args, **kwargs)

    monkeypatch.setattr(sqlalchemy.engine.base.Connection, "execute", third_insert_fails)
    s = FailSafeTrackerStore(store(url))
    run(say(s, "patient", "first", "e1"))

    async def second():
        tracker = await s.retrieve("patient")
        time.sleep(0.01)  # sessions are told apart by time, as Rasa does: the new one starts later
        start(tracker)  # the session had expired
        turn(tracker, "second", "e2")
        countdown.append(3)
        await s.save(tracker)
        turn(tracker, "third", "e3")  # the same object saved again in the turn
        await s.save(tracker)

    run(second())
    assert not countdown  # the third insert did fail
    assert user_rows(url, "patient") == ["first", "second", "third"]


def test_reused_sqlite_row_ids_do_not_make_an_old_copy_look_current(url):
    # SQLite hands the ids of deleted rows at the end of the table out again, so a second
    # process can bring the conversation back to the same count and ids with other rows.
    a, b = store(url), store(url)
    run(say(a, "patient", "my name is Ann Smith, fever", "e1"))
    run(say(a, "patient", "please delete my data", "e2"))

    async def on_b():
        tracker = await b.get_or_create_tracker("patient", append_action_listen=False)
        delete_rows(url, "patient")
        turn(tracker, "yes, delete", "deleted")
        await b.save(tracker)
        tracker = await b.get_or_create_tracker("patient", append_action_listen=False)
        time.sleep(0.01)  # sessions are told apart by time, as Rasa does: the new one starts later
        start(tracker)
        turn(tracker, "hello again", "e3")
        await b.save(tracker)

    run(on_b())
    assert texts(run(a.retrieve("patient"))) == texts(run(stock(url).retrieve("patient"))) == ["hello again"]
