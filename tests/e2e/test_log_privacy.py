"""Logs carry ids, never what patients write or their contact details (at the default
INFO level; Rasa logs texts at DEBUG, which must be chosen deliberately).

Distinctive strings go in through every channel - a question, a slash command, a warning sign
that escalates, and the details form (name, phone, email) - then every file the live
assistant logged to (and the staff notification log) is searched for them, and for the
credentials the requests carried (Rasa's API token, which Sanic logs inside the URL of a
failed request unless bot/rasa_ext/safety/api_hardening.py redacts it)."""
import itertools
import uuid
from pathlib import Path

import pytest

from tests.e2e.channel_clients import alerts, api, escalations, rest_say, webchat_say, webchat_session
from tests.e2e.conftest import TELEGRAM_SECRET
from tests.e2e.telegram_helpers import message, post_update
from tests.waiting import wait_until
from tests.webchat_client import replied

pytestmark = pytest.mark.slow
_chats = itertools.count(6_200_000)

PHRASE = "quillfeather marmalade lighthouse"
NAME = "Zebedee Quillfeather"
PHONE = "+44 7700 900123"
EMAIL = "Zeb.Quillfeather@example.org"
MESSAGES = [
    f"{PHRASE}: can I dye my hair the week after? call me on {PHONE} or write to {EMAIL}",
    "/kb_quillfeather_marmalade",
    f'/inform{{"contact": "{EMAIL}", "note": "{PHRASE}"}}',
    f"{PHRASE} - I had my injections yesterday and now I have a fever and spreading redness",
    NAME,
    PHONE,
    "yesterday",
]
# What must never be in a log, in the forms a program might write it in.
NEEDLES = ["quillfeather", "marmalade lighthouse", "7700 900123", "7700900123", "447700900123",
           "zeb.quillfeather@example.org", "Zebedee"]


def test_logs_carry_no_message_text_or_contact_details(live):
    conversations = []

    sender = f"logs-rest-{uuid.uuid4().hex[:8]}"
    for text in MESSAGES:
        rest_say(live, sender, text)
    conversations.append(sender)

    token, conversation = webchat_session(live)
    webchat_say(live, token, MESSAGES, until=replied)  # the test reads logs and the database, not the replies
    conversations.append(conversation)

    chat = next(_chats)
    for text in MESSAGES:
        assert post_update(live, message(chat, text))[0] == 200
    conversations.append(str(chat))

    # A request to Rasa's API whose handler fails: Sanic logs the URL, which carries the token.
    assert api(live, f"/conversations/{sender}/execute", "POST", [1, 2])[0] == 500  # a list, not an object

    # Each conversation escalated, got its details recorded, and its staff alert delivered.
    escalated = [[e for e in escalations(live, c) if e.reason == "symptoms"] for c in conversations]
    assert all(len(e) == 1 for e in escalated), escalated
    escalated = [e for [e] in escalated]
    assert [(e.contact_name, e.contact) for e in escalated] == [(NAME, PHONE.replace(" ", ""))] * 3

    def every_alert_delivered():
        statuses = [{a.status for a in alerts(live, e.id)} for e in escalated]
        return all(s == {"delivered"} for s in statuses)

    wait_until(every_alert_delivered, "every escalation's staff alert to be delivered", 120)

    logs = sorted(p for p in Path(live.log_dir).rglob("*") if p.is_file())
    # The staff notifications log is among them (it follows LOG_DIR).
    assert {"rasa.log", "actions.log", "worker.log", "console.log", "staff-notifications.log"} <= {p.name for p in logs}
    assert "Rasa server is up and running" in (Path(live.log_dir) / "rasa.log").read_text(errors="replace")
    texts = {str(p): p.read_text(errors="replace") for p in logs}
    # Nor the credentials the requests carried.
    secrets = [live.api_token, token, TELEGRAM_SECRET]
    found = [(name, needle) for name, text in texts.items() for needle in NEEDLES + secrets
             if needle.lower() in text.lower()]
    assert not found, found
