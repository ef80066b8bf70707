"""`make run`'s launcher: starts everything on loopback, serves the chat page, answers over
real HTTP, and stops cleanly on Ctrl-C."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.config import paths
from bot.serve.processes import free_port, launched_children, project_env
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def alive(pids):
    """Those of `pids` still running (a zombie has stopped: only its exit status is left)."""
    def running(pid):
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    return [pid for pid in pids if running(pid)]


def test_run_serves_the_chat_and_stops_on_ctrl_c(tmp_path):
    rasa_port, action_port = free_port(), free_port()
    token = "launcher-test-token"
    env = project_env(RASA_PORT=str(rasa_port), ACTION_PORT=str(action_port), CONSOLE_PORT=str(free_port()),
                      DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}", RASA_API_TOKEN=token,
                      CLINIC_SAFETY_NET_MINUTES="0.05", WORKER_INTERVAL="0.5", LOG_DIR=str(tmp_path / "logs"))
    # A process group of its own, like a command in a terminal: Ctrl-C signals the whole group.
    proc = subprocess.Popen([sys.executable, "-m", "bot.serve.run"], cwd=paths.ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    children = {}
    try:
        lines, deadline = [], time.monotonic() + 300
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            lines.append(line)
            if "Open the chat at" in line:
                break
        chat_url = f"http://127.0.0.1:{rasa_port}/webhooks/webchat/"
        assert chat_url in "".join(lines), "".join(lines)

        page = urllib.request.urlopen(chat_url, timeout=10).read().decode()
        assert "widget.js" in page and "socket.io.min.js" in page

        replies = post(f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook",
                       {"sender": "launcher-test", "message": "can I smoke after the treatment?"})
        texts = [r.get("text", "") for r in replies]
        assert "automated assistant" in texts[0]
        assert any("smok" in t.lower() for t in texts[1:])

        # Rasa's HTTP API needs the token.
        tracker_url = f"http://127.0.0.1:{rasa_port}/conversations/launcher-urgent/tracker"
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(tracker_url, timeout=10)
        assert denied.value.code == 401

        # An urgent report nobody acknowledges: the worker sends the safety net through Rasa.
        post(f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook",
             {"sender": "launcher-urgent", "message": "had the injections yesterday, now a fever of 39"})

        def safety_net_sent():
            tracker = json.loads(urllib.request.urlopen(f"{tracker_url}?token={token}", timeout=10).read())
            return "safety_net" in [(e.get("metadata") or {}).get("label") for e in tracker["events"]
                                    if e["event"] == "bot"]

        wait_until(safety_net_sent, "the worker's safety-net message in the conversation", 120, interval=1)
        children = launched_children(proc.pid)
        assert sorted(children) == ["actions", "console", "rasa", "worker"], children
        # The token reaches Rasa from the environment: no command line, readable by every
        # user of the machine, carries it.
        for name, pid in children.items():
            assert token not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"), name
    finally:
        children = children or launched_children(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        try:
            out = proc.communicate(timeout=120)[0]
        finally:
            for pid in alive([proc.pid, *children.values()]):  # only if the test failed
                os.kill(pid, signal.SIGKILL)
    # Every process stopped by itself, in time, and quietly: exit code 0, nothing killed, and no
    # traceback on the terminal or in any process's log.
    assert proc.returncode == 0, out[-2000:]
    assert "stopping ..." in out and out.rstrip().endswith("stopped") and "killed" not in out, out[-2000:]
    assert alive(children.values()) == []
    logs = {p.name: p.read_text(errors="replace") for p in (tmp_path / "logs").glob("*.log")}
    assert {"actions.log", "console.log", "rasa.log", "worker.log"} <= set(logs), sorted(logs)
    for name, text in [("terminal", out), *logs.items()]:
        assert "Traceback" not in text, f"{name}:\n{text[-3000:]}"
    assert "Application shutdown complete" in logs["console.log"]  # its shutdown was not cut short
    # No Telegram credentials here: one clear error, and the web chat ran all along.
    rasa_log = logs["rasa.log"]
    assert rasa_log.count("Telegram channel disabled: set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET") == 1
    # Started as make run starts it: the start-up heap frozen once the model was loaded
    # (bot/rasa_ext/speed/heap.py), and DIET's numpy intent scores in use, never turned off (bot/rasa_ext/speed/diet_intents.py).
    frozen = re.search(r"froze (\d+) start-up objects", rasa_log)
    assert frozen and int(frozen.group(1)) > 100_000, rasa_log[-2000:]
    assert "intent scores differ" not in rasa_log and "intent scores failed" not in rasa_log


@pytest.mark.parametrize("setting, expected", [
    ({"STAFF_NOTIFIERS": "log,webhook"}, "STAFF_WEBHOOK_URL"),
    ({"RETENTION_DAYS": "0"}, "RETENTION_DAYS"),
    ({"MAX_PHOTOS_PER_ESCALATION": "lots"}, "MAX_PHOTOS_PER_ESCALATION"),
    ({"HISTORY_BURST": "-1"}, "HISTORY_BURST"),
])
def test_a_setting_the_worker_would_refuse_stops_the_start_with_a_message(tmp_path, setting, expected):
    env = project_env(DATABASE_URL=f"sqlite:///{tmp_path / 'c.db'}", LOG_DIR=str(tmp_path / "logs"),
                      RASA_PORT=str(free_port()), **setting)
    env.pop("STAFF_WEBHOOK_URL", None)
    out = subprocess.run([sys.executable, "-m", "bot.serve.run"], cwd=paths.ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "not starting" in out.stderr and expected in out.stderr
    assert not (tmp_path / "logs" / "rasa.log").exists()  # nothing was started
