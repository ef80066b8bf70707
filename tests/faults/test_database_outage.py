"""The database unavailable for a while: Rasa's fail-safe would start an empty conversation;
ours fails closed. The patient gets an honest reply with the clinic's number and the warning
signs, the readiness check fails, and once the database is back every message is answered
and recorded, in order, with its escalation, and nothing twice."""
import asyncio
import json

import pytest
from sqlalchemy import select

from bot.storage.db import dispose_all, transaction
from bot.storage.models import Escalation
from tests.waiting import wait_until
from tests.webchat_client import chat, conversation_of, converse, new_token, replied

pytestmark = pytest.mark.slow


def test_database_down_fails_closed_then_everything_is_replayed(stack):
    token = new_token(stack.rasa_url)["token"]
    conversation = conversation_of(token)
    # Its end is when Rasa records it (awaited next), which its first reply does not mark.
    chat(stack.rasa_url, token, ["I had my Exosome Pro treatment yesterday"], until=replied)
    wait_until(lambda: stack.user_texts(conversation), "the first turn to be recorded before the outage", 60)
    assert stack.wait_ready()

    stack.postgres.stop()
    try:
        # The readiness check reuses its answer for up to a second (bot/channels/health.py).
        wait_until(lambda: stack.ready()[0] == 503, "the readiness check to see the database down", 60)
        status, body = stack.ready()
        assert status == 503 and json.loads(body)["database"] == "unavailable"
        texts = chat(stack.rasa_url, token, ["there is pus at the injection sites and I feel feverish"],
                     max_wait=120, until=lambda texts: any("call the clinic now" in t for t in texts))
        # Fail closed: told to call the clinic now, not treated as a new conversation.
        assert any("call the clinic now" in t for t in texts), texts
        assert not any("automated assistant" in t for t in texts)  # no fresh-session disclaimer
        texts = chat(stack.rasa_url, token, ["can I wash my hair tonight?"],
                     max_wait=120, until=lambda texts: any("kept your message" in t for t in texts))
        assert any("technical problem" in t and "kept your message" in t for t in texts), texts
        spooled = json.loads(stack.ready()[1])["spooled"]
        assert spooled["messages"] == 2
    finally:
        stack.postgres.start()
        dispose_all(stack.database_url)

    stack.wait_ready(timeout=180)  # the replay ran: nothing is left in the spool
    events = stack.events(conversation)
    texts, kinds = [d.get("text") for t, d in events if t == "user"], [t for t, _ in events]
    assert texts == ["I had my Exosome Pro treatment yesterday",
                     "there is pus at the injection sites and I feel feverish",
                     "can I wash my hair tonight?"]
    assert kinds.count("session_started") == 1  # the outage did not start a new session
    with transaction(stack.database_url) as s:
        rows = list(s.scalars(select(Escalation).where(Escalation.conversation_id == conversation)))
    assert [(r.level, r.reason) for r in rows] == [("urgent", "symptoms")]
    # The real answers went into the record (and to the page, if it is still open). On a busy
    # machine the page's history can lag the replay, so ask until it has the answer; 12 s apart,
    # as history requests refill at 6 a minute (bot/channels/rate_limit.py).
    def replayed_answer_in_history():
        _, history = asyncio.run(converse(stack.rasa_url, token, []))
        return any(h["from"] == "bot" and "alerted the clinic's staff" in h["text"] for h in history)

    wait_until(replayed_answer_in_history, "the replayed answer in the web chat history", 120, interval=12)


def test_an_escalation_written_while_the_database_is_down_lands_when_it_is_back(stack, monkeypatch):
    """The action server's path (bot/resilience/escalations.py): spooled, then written."""
    from bot.resilience.escalations import flush_escalations, record_escalation

    monkeypatch.setenv("SPOOL_DIR", str(stack.spool_dir.parent / "spool-direct"))
    fields = dict(conversation_id="outage-direct", channel="webchat", sender_id="outage-direct",
                  level="urgent", reason="symptoms", trigger_message="fever after the injections")
    stack.postgres.stop()
    try:
        assert record_escalation(stack.database_url, ("log",), **fields) is None
        assert flush_escalations(stack.database_url, ("log",)) == 1  # still down: kept
    finally:
        stack.postgres.start()
        dispose_all(stack.database_url)
    assert flush_escalations(stack.database_url, ("log",)) == 0
    assert flush_escalations(stack.database_url, ("log",)) == 0  # and only once
    with transaction(stack.database_url) as s:
        rows = list(s.scalars(select(Escalation).where(Escalation.conversation_id == "outage-direct")))
    assert [(r.level, r.trigger_message) for r in rows] == [("urgent", "fever after the injections")]


def test_the_tracker_store_fails_closed_and_a_failed_write_is_kept(stack, monkeypatch, tmp_path):
    """Rasa's own tracker store, wrapped as Rasa wraps it, with the database stopped: a read
    raises instead of returning a new empty conversation, and a write is spooled and lands
    before the conversation is next read."""
    from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.resilience.tracker_spool import TrackerStoreUnavailable

    monkeypatch.setenv("SPOOL_DIR", str(tmp_path / "spool"))
    store = FailSafeTrackerStore(SQLTrackerStore(Domain.empty(), host=stack.database_url))
    sender = "tracker-store-outage"
    tracker = DialogueStateTracker.from_events(sender, [SessionStarted(), ActionExecuted("action_listen"),
                                                        UserUttered("first message")])

    async def scenario():
        await store.save(tracker)
        stack.postgres.stop()
        try:
            with pytest.raises(TrackerStoreUnavailable):
                await store.retrieve(sender)
            tracker.update(ActionExecuted("action_listen"))
            tracker.update(UserUttered("written while the database was down"))
            await store.save(tracker)  # retried, then spooled: no exception, nothing lost
            assert len(list((tmp_path / "spool" / "trackers").glob("*.json"))) == 1
        finally:
            stack.postgres.start()
            dispose_all(stack.database_url)
        again = await store.retrieve(sender)
        return [e.text for e in again.events if isinstance(e, UserUttered)]

    assert asyncio.run(scenario()) == ["first message", "written while the database was down"]
    assert not list((tmp_path / "spool" / "trackers").glob("*.json"))
