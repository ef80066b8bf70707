"""The outbox delivers to a real webhook on loopback, retries, and loses nothing."""
import asyncio
import datetime as dt
import json
import subprocess
import sys

import pytest
from sqlalchemy import select, update

from bot.config import paths
from bot.escalation.store import EscalationStore
from bot.notify.outbox import Outbox
from bot.notify.webhook import WebhookNotifier
from bot.serve.processes import free_port, project_env
from bot.storage.db import transaction
from bot.storage.models import OutboxMessage, utcnow
from tests.integration.receiver import Receiver
from tests.waiting import wait_until

SECRET = "test-secret-123"


def escalate(url, conv="c1"):
    EscalationStore(url, notifiers=("webhook",)).raise_or_update(
        conversation_id=conv, channel="telegram", sender_id=conv, level="urgent", reason="symptoms",
        trigger_message="pus everywhere")


def make_due(url):
    with transaction(url) as s:
        s.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))


def test_drained_to_the_webhook_with_a_valid_signature(db_url):
    receiver = Receiver(SECRET)
    try:
        escalate(db_url)
        outbox = Outbox(db_url, {"webhook": WebhookNotifier(receiver.url, SECRET)})
        assert asyncio.run(outbox.drain()) == 1
        assert receiver.bad_signatures == 0
        [msg] = receiver.received
        assert msg["event"] == "new" and msg["level"] == "urgent" and "pus" not in json.dumps(msg)
        assert outbox.pending() == []
        assert asyncio.run(outbox.drain()) == 0  # delivered once
    finally:
        receiver.close()


def test_a_failing_webhook_is_retried_with_backoff_until_it_works(db_url):
    receiver = Receiver(SECRET, status=503)
    try:
        escalate(db_url)
        outbox = Outbox(db_url, {"webhook": WebhookNotifier(receiver.url, SECRET)})
        assert asyncio.run(outbox.drain()) == 0
        [row] = outbox.pending()
        assert row.attempts == 1 and "503" in row.last_error and row.next_attempt_at > utcnow()
        assert asyncio.run(outbox.drain()) == 0  # not due yet: backing off
        receiver.status = 200
        make_due(db_url)
        assert asyncio.run(outbox.drain()) == 1
        assert len(receiver.received) == 1
    finally:
        receiver.close()


def test_a_crash_mid_send_is_retried_after_the_lease(db_url):
    receiver = Receiver(SECRET)
    try:
        escalate(db_url)
        outbox = Outbox(db_url, {"webhook": WebhookNotifier(receiver.url, SECRET)})
        claimed = outbox._claim(10)  # a worker claimed the row... and died before sending
        assert len(claimed) == 1
        assert asyncio.run(Outbox(db_url, outbox.notifiers).drain()) == 0  # leased: not sent twice
        make_due(db_url)  # the lease ran out
        assert asyncio.run(Outbox(db_url, outbox.notifiers).drain()) == 1
    finally:
        receiver.close()


def test_worker_process_killed_and_restarted_delivers_everything(db_url, tmp_path):
    """A real worker process, a webhook that is down, a kill -9, a restart: nothing lost."""
    port = free_port()
    env = project_env(DATABASE_URL=db_url, STAFF_NOTIFIERS="webhook", WORKER_INTERVAL="0.2",
                      STAFF_WEBHOOK_URL=f"http://127.0.0.1:{port}/hook", STAFF_WEBHOOK_SECRET=SECRET)
    for i in range(3):
        escalate(db_url, conv=f"c{i}")
    worker = subprocess.Popen([sys.executable, "-m", "bot.serve.worker"], cwd=paths.ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def rows():
        with transaction(db_url) as s:
            return list(s.scalars(select(OutboxMessage)))

    def tried_every_message():
        found = rows()
        return len(found) == 3 and all(r.attempts >= 1 for r in found)

    # The webhook is down: every message is tried, and fails, before the worker is killed.
    wait_until(tried_every_message, "the worker to try every message", 60)
    worker.kill()
    worker.wait(10)
    assert [r.status for r in rows()] == ["pending"] * 3

    receiver = Receiver(SECRET, port=port)  # the webhook comes back
    make_due(db_url)
    worker = subprocess.Popen([sys.executable, "-m", "bot.serve.worker"], cwd=paths.ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: len(receiver.received) >= 3, "the webhook to receive the three alerts", 60)
    finally:
        worker.terminate()
        worker.wait(10)
        receiver.close()
    assert sorted(m["escalation_id"] for m in receiver.received) == [1, 2, 3]
    with transaction(db_url) as s:
        assert all(r.status == "delivered" for r in s.scalars(select(OutboxMessage)))
