"""How long a published change to the questions takes to reach patients (part of `make bench`).

    python -m bot.bench.edit_to_live

A fresh SQLite database and a Rasa server as `make run` starts it (following the live model,
bot/rasa_ext/live/model_swap.py). One new question is published for an entry; then the
background retrain's build (bot/knowledge/retrain.py: render, train, hash, smoke check) runs
as the worker runs it, and the server's /status is polled until it serves the new model.
Prints the build's time, the swap's time (ready to served) and the total, from the signature.
The worker notices a new revision within its round (WORKER_INTERVAL, 2 s), not counted here.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bot.config import paths
from bot.knowledge import retrain, store
from bot.serve.processes import free_port, project_env, wait_http
from bot.storage.db import upgrade

TOKEN = "edit-to-live-bench"
QUESTION = "Could I go back to cycling to work the morning after my session?"


def served(base: str) -> str:
    with urllib.request.urlopen(f"{base}/status?token={TOKEN}", timeout=30) as response:
        return Path(json.loads(response.read())["model_file"]).name


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="edit-to-live-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        store.ensure_seeded(url)
        port = free_port()
        env = project_env(DATABASE_URL=url, RASA_API_TOKEN=TOKEN, MODEL_POLL_SECONDS="5", SANIC_HOST="127.0.0.1",
                          ACTION_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}/webhook")
        with open(Path(tmp) / "rasa.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "bot.serve.rasa_server", "-m", "bot.serve.rasa_cli", "run",
                                     "--model", str(retrain.live_model(url)), "--endpoints", "endpoints.yml",
                                     "--credentials", "credentials.yml", "-i", "127.0.0.1", "-p", str(port),
                                     "--enable-api"], cwd=paths.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                base = f"http://127.0.0.1:{port}"
                wait_http(f"{base}/", 300, proc)
                version = store.add_questions(url, "aftercare_rest", "bench", [QUESTION])
                signed = time.monotonic()
                store.sign(url, version.id, "bench_clinician", "clinician")
                outcome = retrain.build(url, production=False)
                ready = time.monotonic()
                if outcome != "ready":
                    print(f"edit to live: the build ended '{outcome}': {retrain.status(url).latest.error}")
                    return 1
                target = Path(retrain.status(url).live.model_file).name
                while served(base) != target and time.monotonic() - ready < 300:
                    time.sleep(0.2)
                live = time.monotonic()
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
        swapped = live - ready < 300
        if swapped:
            print(f"edit to live (a new question, SQLite, this machine): build {ready - signed:.0f} s "
                  f"(render, train, hash, smoke check), swap {live - ready:.1f} s (poll, hash, load, swap), "
                  f"total {live - signed:.0f} s")
        else:
            print("edit to live: the server did not serve the new model within 300 s")
        return 0 if swapped else 1


if __name__ == "__main__":
    sys.exit(main())
