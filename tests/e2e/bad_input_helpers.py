"""Helpers for the bad-input and HTTP fuzz tests against the live assistant: raw HTTP that
never raises, the web chat over real socket.io one turn at a time, the action server's
address, a signed-in staff member, and a watch on the servers' logs for unhandled
exceptions."""
import asyncio
import re
import types
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path


from sqlalchemy import func, select

from bot.console.accounts import AccountError, create_user
from bot.serve.processes import launched_children
from bot.storage.db import transaction
from bot.storage.models import Escalation
from tests.console.conftest import csrf_from, sign_in
from tests.e2e.channel_clients import tracker
from tests.webchat_client import converse_turns

LOGS = ("rasa.log", "actions.log", "console.log")
# An unhandled exception, whoever logs it: Python's traceback header, Sanic's and Rasa's
# "[ERROR]"/"ERROR" lines, uvicorn's "Exception in ASGI application".
UNHANDLED = re.compile(r"Traceback \(most recent call last\)|\bERROR\b|Exception in ASGI application")


def http(method, url, body=b"", content_type="application/json", headers=None, timeout=60):
    """(status, body bytes) of a raw request; an HTTP error status is an answer, not a raise."""
    hdrs = {"Content-Type": content_type} if content_type else {}
    req = urllib.request.Request(url, data=body if method != "GET" else None, method=method,
                                 headers={**hdrs, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def user_texts(live, conversation):
    return [e.get("text") for e in tracker(live, conversation)["events"] if e.get("event") == "user"]


def webchat_turns(live, token, messages, until, then_quiet_for=None, max_wait=60.0):
    """The bot's texts after each message, one list per message, over one socket (`until` and
    `then_quiet_for` as in converse_turns)."""
    turns, _ = asyncio.run(converse_turns(live.rasa_url, token, messages, until, max_wait, then_quiet_for))
    return [[m.get("text") or "" for m in turn] for turn in turns]


def action_server_url(live):
    """The live assistant's action server: the rasa_sdk process `bot.serve.run` started."""
    pid = launched_children(live.proc.pid)["actions"]
    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return f"http://127.0.0.1:{cmd[cmd.index(b'--port') + 1].decode()}"


class LogWatch:
    """What the servers logged since the watch started."""

    def __init__(self, log_dir):
        self.paths = [Path(log_dir) / name for name in LOGS]
        self.start = {p: p.stat().st_size if p.exists() else 0 for p in self.paths}

    def new_text(self) -> str:
        out = []
        for p in self.paths:
            if p.exists():
                with open(p, "rb") as f:
                    f.seek(self.start[p])
                    out.append(f.read().decode("utf-8", "replace"))
        return "".join(out)

    def unhandled(self):
        """Log lines that report an unhandled exception (with a little context)."""
        lines = self.new_text().splitlines()
        return [" | ".join(lines[i:i + 3])[:500] for i, line in enumerate(lines) if UNHANDLED.search(line)]


STAFF_USER, STAFF_PASSWORD = "badinput_admin", "a-long-bad-input-password"


def staff_client(live):
    """An httpx client signed in to the live console as an admin (created on first use)."""
    try:
        create_user(live.database_url, STAFF_USER, STAFF_PASSWORD, "admin")
    except AccountError:
        pass  # already there: the live assistant is shared by the whole session
    return sign_in(types.SimpleNamespace(base=live.console_url), STAFF_USER, STAFF_PASSWORD)


@contextmanager
def queue_left_as_found(live):
    """Resolve, through the console, the escalations raised inside the block: the live
    assistant is shared, and other modules' tests expect theirs at the top of the queue."""
    with transaction(live.database_url) as s:
        before = s.scalar(select(func.max(Escalation.id))) or 0
    yield
    with transaction(live.database_url) as s:
        ours = list(s.scalars(select(Escalation.id).where(Escalation.id > before,
                                                          Escalation.status != "resolved")))
    staff = staff_client(live)
    csrf = csrf_from(staff.get("/").text)
    for escalation_id in ours:
        staff.post(f"/escalations/{escalation_id}",
                   data={"csrf": csrf, "action": "resolve", "outcome": "no_action_needed"})
