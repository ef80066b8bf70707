"""`make run`'s launcher: starts everything on loopback, serves the chat page, answers over
real HTTP, and stops cleanly on Ctrl-C."""
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from bot import paths
from bot.processes import free_port, project_env

pytestmark = pytest.mark.slow


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def test_run_serves_the_chat_and_stops_on_ctrl_c(tmp_path):
    rasa_port, action_port = free_port(), free_port()
    token = "launcher-test-token"
    env = project_env(RASA_PORT=str(rasa_port), ACTION_PORT=str(action_port),
                      DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}", RASA_API_TOKEN=token,
                      CLINIC_SAFETY_NET_MINUTES="0.05", WORKER_INTERVAL="0.5", LOG_DIR=str(tmp_path / "logs"))
    proc = subprocess.Popen([sys.executable, "-m", "bot.run"], cwd=paths.ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
        labels, deadline = [], time.monotonic() + 60
        while "safety_net" not in labels and time.monotonic() < deadline:
            time.sleep(1)
            tracker = json.loads(urllib.request.urlopen(f"{tracker_url}?token={token}", timeout=10).read())
            labels = [(e.get("metadata") or {}).get("label") for e in tracker["events"] if e["event"] == "bot"]
        assert "safety_net" in labels
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, out[-2000:]
    assert "stopping" in out
    # No Telegram credentials here: one clear error, and the web chat ran all along.
    rasa_log = (tmp_path / "logs" / "rasa.log").read_text(errors="replace")
    assert rasa_log.count("Telegram channel disabled: set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET") == 1
    # Started as make run starts it: the start-up heap frozen once the model was loaded
    # (bot/heap.py), and DIET's numpy intent scores in use, never turned off (bot/diet_intents.py).
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
    out = subprocess.run([sys.executable, "-m", "bot.run"], cwd=paths.ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "not starting" in out.stderr and expected in out.stderr
    assert not (tmp_path / "logs" / "rasa.log").exists()  # nothing was started
