"""`make run`: start the assistant on localhost (SQLite by default) until Ctrl-C.

Starts the action server, the Rasa server (which serves the web chat page), the background
worker and the staff console, each bound to 127.0.0.1, and prints where to open the chat.
A process that dies is started again (its state is in the database, so conversations carry
on where they were); one that keeps dying (more than RESTART_LIMIT times within a minute) is
retried once a minute with a pointer to its log, and never takes the others down: a broken
console must not stop patients getting answers. Ctrl-C or SIGTERM stops everything cleanly
(exit code 0): the children run in sessions of their own, so a terminal's Ctrl-C reaches only
this launcher, which stops each child once (SIGTERM) and waits for it (a second signal would
cut a child's own shutdown short, as it did the console's).
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot.config import paths
from bot.config.logging_setup import configure_logging
from bot.knowledge.retrain import live_model
from bot.channels.rate_limit import history_limiter, limiter
from bot.config.clinic import load_at_start
from bot.escalation.store import max_photos
from bot.notify.factory import build_notifiers
from bot.serve.processes import project_env, stop_all, wait_http
from bot.config.settings import Settings, SettingsError
from bot.storage.db import upgrade

RASA_PORT = int(os.environ.get("RASA_PORT", "5005"))
ACTION_PORT = int(os.environ.get("ACTION_PORT", "5055"))
CONSOLE_PORT = int(os.environ.get("CONSOLE_PORT", "8081"))
RESTART_LIMIT = int(os.environ.get("RESTART_LIMIT", "5"))


def _origins():
    """Sites allowed to embed the widget from another origin (the page itself is same-origin)."""
    return [o.strip() for o in os.environ.get("WEBCHAT_ALLOWED_ORIGINS", "").split(",") if o.strip()]


def main() -> int:
    configure_logging()
    settings = Settings.from_env()
    try:
        # What the worker or a channel would refuse, said before anything starts: a bad
        # retention value, a staff notifier without its settings (its alerts would never be
        # delivered), a bad limit, or (in production) placeholders in clinic.yml.
        settings.retention_days
        load_at_start()
        build_notifiers(settings.notifiers)
        max_photos()
        limiter(), history_limiter()
    except (SettingsError, ValueError) as exc:
        print(f"not starting: {exc}", file=sys.stderr)
        return 2
    upgrade(settings.database_url)
    # The model retrained from the published questions, if one is live (bot/knowledge/retrain.py);
    # otherwise the one trained from the files.
    model = live_model(settings.database_url)
    # Rasa's HTTP API is only opened with a token, on loopback: the worker uses it to send
    # safety-net messages. A fresh random token per run unless one is configured.
    token = os.environ.get("RASA_API_TOKEN") or secrets.token_urlsafe(32)
    env = project_env(DATABASE_URL=settings.database_url,
                      ACTION_ENDPOINT_URL=f"http://127.0.0.1:{ACTION_PORT}/webhook",
                      SANIC_HOST="127.0.0.1", RASA_API_TOKEN=token,
                      RASA_URL=f"http://127.0.0.1:{RASA_PORT}")
    logs = Path(os.environ.get("LOG_DIR") or paths.ROOT / "var" / "log")
    logs.mkdir(parents=True, exist_ok=True)
    procs = {}
    restarts = {}

    def start(name, cmd):
        log = open(logs / f"{name}.log", "ab")
        try:
            procs[name] = (cmd, subprocess.Popen(cmd, cwd=paths.ROOT, env=env, stdout=log,
                                                 stderr=subprocess.STDOUT, start_new_session=True))
        finally:
            log.close()  # the child has its own copy
        return procs[name][1]

    py = sys.executable
    stopped = threading.Event()
    # Both only ask the loop below to stop, so no KeyboardInterrupt lands half-way through
    # starting or stopping a child; Ctrl-C works even from a shell that ignores SIGINT (`cmd &`).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        actions = start("actions", [py, "-m", "bot.serve.action_server", "--actions", "actions", "--port", str(ACTION_PORT)])
        # The token reaches Rasa from the environment (bot/serve/rasa_server.py), never on the
        # command line, which every user of the machine can read.
        rasa = start("rasa", [py, "-m", "bot.serve.rasa_server", "-m", "bot.serve.rasa_cli", "run", "--model", str(model),
                              "--endpoints", "endpoints.yml", "--credentials", "credentials.yml",
                              "-i", "127.0.0.1", "-p", str(RASA_PORT), "--enable-api",
                              *[arg for origin in _origins() for arg in ("--cors", origin)]])
        start("worker", [py, "-m", "bot.serve.worker"])
        console = start("console", [py, "-m", "bot.serve.console", "--port", str(CONSOLE_PORT)])
        print(f"starting (logs in {logs}/) ...", flush=True)
        wait_http(f"http://127.0.0.1:{ACTION_PORT}/health", 120, actions, stopped)
        wait_http(f"http://127.0.0.1:{RASA_PORT}/", 300, rasa, stopped)
        wait_http(f"http://127.0.0.1:{CONSOLE_PORT}/health", 60, console, stopped)
        print(f"\nThe assistant is running. Open the chat at http://127.0.0.1:{RASA_PORT}/webhooks/webchat/\n"
              f"Staff console: http://127.0.0.1:{CONSOLE_PORT}/ (create an account first: "
              f"python -m bot.console.staff add-user NAME --role admin)\n"
              f"(database: {settings.database_url}; press Ctrl-C to stop)\n", flush=True)
        due = {}  # name -> when to start it again
        while not stopped.is_set():
            now = time.monotonic()
            for name, (cmd, proc) in list(procs.items()):
                if proc.poll() is None:
                    continue
                if name not in due:
                    recent = [t for t in restarts.get(name, []) if now - t < 60]
                    restarts[name] = recent
                    # Quick at first, then once a minute for a process that keeps dying.
                    wait = 60.0 if len(recent) >= RESTART_LIMIT else min(2.0 ** len(recent) - 1, 30.0)
                    due[name] = now + wait
                    print(f"{name} exited with code {proc.returncode}; starting it again in {wait:.0f} s"
                          + (f" (it keeps exiting: see {logs}/{name}.log)" if wait >= 60 else ""), flush=True)
                if now >= due[name]:
                    del due[name]
                    restarts[name].append(now)
                    start(name, cmd)
            stopped.wait(0.5)
    except InterruptedError:  # stopped while still starting
        pass
    finally:
        if stopped.is_set():
            print("\nstopping ...", flush=True)
        killed = stop_all([proc for _, proc in procs.values()])
        for name, (_, proc) in procs.items():
            if proc in killed:
                print(f"{name} did not stop in time and was killed (see {logs}/{name}.log)", flush=True)
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
