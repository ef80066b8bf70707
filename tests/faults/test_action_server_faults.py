"""The action server down or slow: the patient still gets a safe reply, and a warning sign
still reaches staff, recorded by the Rasa server itself (bot/rasa_ext/safety/fail_closed.py)."""
import time

import pytest
from sqlalchemy import func, select

from bot.storage.db import transaction
from bot.storage.models import Escalation, OutboxMessage
from tests.webchat_client import chat, conversation_of, new_token, replied, saying

pytestmark = pytest.mark.slow
URGENT = "I had the injections 2 days ago and now there is pus and I have a fever"
EMERGENCY = "my lips and tongue are swelling up and I can't breathe properly"
QUESTION = "how many sessions of the treatment will I need?"
# A deliberate "nothing more arrives" window, for the turns whose test asserts a second
# degraded reply (or any degraded reply) does not follow the awaited one.
NOTHING_MORE_FOR = 1.0


def emergency_text(texts):
    return any(t.startswith("Call ") and "emergency" in t for t in texts)


def escalations_of(stack, token_conversation):
    with transaction(stack.database_url) as s:
        rows = list(s.scalars(select(Escalation).where(Escalation.conversation_id == token_conversation)))
        outbox = s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.escalation_id.in_([r.id for r in rows]))) if rows else 0
    return rows, outbox


def test_action_server_down_the_patient_is_still_kept_safe(stack):
    stack.proxy.down()
    try:
        urgent = new_token(stack.rasa_url)["token"]
        texts = chat(stack.rasa_url, urgent, [URGENT], until=saying("call the clinic now", "technical problem"))
        assert any("call the clinic now" in t and "technical problem" in t for t in texts), texts
        rows, outbox = escalations_of(stack, conversation_of(urgent))
        assert [(r.level, r.reason, r.status) for r in rows] == [("urgent", "symptoms", "open")]
        assert outbox >= 1  # staff are notified through the outbox like any escalation

        emergency = new_token(stack.rasa_url)["token"]
        texts = chat(stack.rasa_url, emergency, [EMERGENCY], until=emergency_text)
        assert emergency_text(texts), texts
        assert [r.level for r in escalations_of(stack, conversation_of(emergency))[0]] == ["emergency"]

        question = new_token(stack.rasa_url)["token"]
        texts = chat(stack.rasa_url, question, [QUESTION], until=saying("technical problem"),
                     then_quiet_for=NOTHING_MORE_FOR)
        assert len([t for t in texts if "technical problem" in t]) == 1, texts  # once per message
        assert escalations_of(stack, conversation_of(question))[0] == []  # a question is not an alert

    finally:
        stack.proxy.up()
    # Back up: the same conversation gets real answers again.
    texts = chat(stack.rasa_url, question, [QUESTION], until=replied, then_quiet_for=NOTHING_MORE_FOR)
    assert not any("technical problem" in t for t in texts) and texts


def test_slow_action_server_times_out_into_the_safe_reply(stack):
    stack.proxy.slow(20)
    try:
        token = new_token(stack.rasa_url)["token"]
        started = time.monotonic()
        texts = chat(stack.rasa_url, token, [URGENT], until=saying("call the clinic now"), max_wait=15)
        assert any("call the clinic now" in t for t in texts), texts
        assert time.monotonic() - started < 15  # ACTION_TIMEOUT_SECONDS=3, not Rasa's 5 minutes
        rows, _ = escalations_of(stack, conversation_of(token))
        assert [r.level for r in rows] == ["urgent"]
    finally:
        stack.proxy.up()


def test_action_server_down_in_the_middle_of_the_details_form(stack):
    """The details form's validation runs in the action server too: an emergency reported
    while the form waits for a name must still get the emergency text and raise the level."""
    token = new_token(stack.rasa_url)["token"]
    texts = chat(stack.rasa_url, token, [URGENT], until=saying("your name"))
    assert any("your name" in t for t in texts), texts  # the form is waiting for a name
    stack.proxy.down()
    try:
        texts = chat(stack.rasa_url, token, [EMERGENCY], until=emergency_text)
        assert emergency_text(texts), texts
        rows, _ = escalations_of(stack, conversation_of(token))
        assert [r.level for r in rows] == ["emergency"]  # the open escalation was raised
    finally:
        stack.proxy.up()
