"""Rasa, the action server, the worker and the console killed (SIGKILL) mid-conversation:
`make run`'s launcher starts each again, the conversation continues where it was, and no
escalation or outbox item is lost or duplicated."""
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import sqlalchemy as sa

from bot.config import paths
from bot.serve.processes import free_port, launched_children, project_env
from tests.waiting import wait_until
from tests.webchat_client import chat, new_token

pytestmark = pytest.mark.slow
SECRET = "restarts-webchat-secret-0123456789abcdef"


def up(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status < 500
    except Exception:  # noqa: BLE001
        return False


def kill_and_wait(launcher, name, health_url, timeout=240):
    before = launched_children(launcher.pid)[name]
    os.kill(before, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = launched_children(launcher.pid).get(name)
        if now and now != before and up(health_url):
            return now
        time.sleep(0.5)
    raise AssertionError(f"{name} was not started again within {timeout}s")


@pytest.fixture(scope="module")
def launcher(tmp_path_factory):
    work = tmp_path_factory.mktemp("restarts")
    ports = {k: free_port() for k in ("RASA_PORT", "ACTION_PORT", "CONSOLE_PORT")}
    db = f"sqlite:///{work / 'clinic.db'}"
    env = project_env(DATABASE_URL=db, LOG_DIR=str(work / "logs"), SPOOL_DIR=str(work / "spool"),
                      WEBCHAT_SECRET=SECRET, RASA_API_TOKEN="restarts-token", WORKER_INTERVAL="1",
                      **{k: str(v) for k, v in ports.items()})
    env.pop("TELEGRAM_BOT_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "bot.serve.run"], cwd=paths.ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = []
    while True:
        line = proc.stdout.readline()
        seen.append(line)
        if "Open the chat at" in line or (not line and proc.poll() is not None):
            break
    assert proc.poll() is None, "".join(seen)
    proc.urls = {"rasa": f"http://127.0.0.1:{ports['RASA_PORT']}",
                 "actions": f"http://127.0.0.1:{ports['ACTION_PORT']}/health",
                 "console": f"http://127.0.0.1:{ports['CONSOLE_PORT']}/health"}
    proc.db = db
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_killed_processes_come_back_and_the_conversation_carries_on(launcher):
    rasa = launcher.urls["rasa"]
    token = new_token(rasa)["token"]
    def escalated_and_asked(texts):
        return any("alerted the clinic's staff" in t for t in texts) and any("your name" in t for t in texts)

    # The reply comes in several messages; on a busy machine they can be seconds apart, so wait
    # for what the test needs (up to a generous limit) rather than for a quiet second.
    texts = chat(rasa, token, ["I had the injections yesterday and now I have a fever and chills"],
                 until=escalated_and_asked, max_wait=120)
    assert escalated_and_asked(texts), texts

    kill_and_wait(launcher, "rasa", rasa + "/")
    texts = chat(rasa, token, ["Maria Lopez"], max_wait=120,  # the details form goes on where it was
                 until=lambda texts: any("phone number or email" in t for t in texts))
    assert any("phone number or email" in t for t in texts), texts

    kill_and_wait(launcher, "actions", launcher.urls["actions"])

    def recorded_or_failed(texts):
        return any("technical problem" in t or "added this to your report" in t for t in texts)

    # The restarted action server records the details (the treatment date is known: "yesterday").
    texts = chat(rasa, token, ["maria@example.com"], max_wait=120, until=recorded_or_failed)
    assert not any("technical problem" in t for t in texts), texts
    assert any("added this to your report" in t for t in texts), texts

    kill_and_wait(launcher, "worker", launcher.urls["console"])  # the worker has no port
    kill_and_wait(launcher, "console", launcher.urls["console"])

    engine = sa.create_engine(launcher.db)

    def delivered():
        with engine.connect() as conn:
            outbox = conn.execute(sa.text("SELECT escalation_id, notifier, status FROM outbox")).all()
        return outbox if outbox and all(o.status == "delivered" for o in outbox) else None

    outbox = wait_until(delivered, "the staff notification to be delivered by the restarted worker", 120)
    with engine.connect() as conn:
        escalations = conn.execute(sa.text("SELECT id, level, contact FROM escalations")).all()
    engine.dispose()
    assert [(e.level, e.contact) for e in escalations] == [("urgent", "maria@example.com")]
    # One staff notification, delivered once: not lost, not repeated by the restarts.
    assert [tuple(o) for o in outbox] == [(escalations[0].id, "log", "delivered")]
