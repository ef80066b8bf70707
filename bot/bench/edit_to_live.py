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

import sys
import tempfile
import time
from pathlib import Path

from bot.knowledge import retrain, store
from bot.serve.processes import rasa_server, served_model
from bot.storage.db import upgrade

TOKEN = "edit-to-live-bench"
QUESTION = "Could I go back to cycling to work the morning after my session?"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="edit-to-live-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        store.ensure_seeded(url)
        with rasa_server(url, retrain.live_model(url), TOKEN, Path(tmp) / "rasa.log") as base:
            version = store.add_questions(url, "aftercare_rest", "bench", [QUESTION])
            signed = time.monotonic()
            store.sign(url, version.id, "bench_clinician", "clinician")
            outcome = retrain.build(url, production=False)
            ready = time.monotonic()
            if outcome != "ready":
                print(f"edit to live: the build ended '{outcome}': {retrain.status(url).latest.error}")
                return 1
            target = Path(retrain.status(url).live.model_file).name
            while served_model(base, TOKEN) != target and time.monotonic() - ready < 300:
                time.sleep(0.2)
            live = time.monotonic()
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
