"""`make soak`: mixed traffic against the whole assistant for a while, then an account.

Starts the assistant the way `make run` does (bot.serve.run: Rasa, action server, worker, console;
SQLite in a temporary directory, everything on loopback), runs a fixed number of concurrent
conversations with think time for SOAK_SECONDS (default 600), half over the web chat
(socket.io) and half over the REST channel, and checks at the end:
- errors: failed requests, and messages that got no reply;
- escalations: every conversation with a warning sign has exactly one, and no other has one;
  every staff notification in the outbox was delivered;
- logs: no ERROR or Traceback line written during the run;
- memory: resident memory of each process after warm-up vs. at the end.
Writes reports/soak.md and reports/soak.json; exits non-zero if any check fails.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import httpx

from bot.config import paths
from bot.serve.processes import free_port, launched_children, project_env, rss_mb

# (kind, messages, escalation level expected or None)
SCRIPTS = [
    ("questions", ["what are exosomes?", "how many sessions will I need?", "thanks"], None),
    ("aftercare", ["when can I wash my hair after the treatment?", "and can I go swimming?"], None),
    ("routine", ["my scalp has been a bit red and tender since the treatment yesterday"], None),
    ("urgent", ["I had my treatment 3 days ago",
                "the injection sites are oozing pus and I have a fever", "skip", "skip", "skip"], "urgent"),
    ("emergency", ["my face is swelling and I can't breathe after the injections"], "emergency"),
    ("unknown", ["what does the treatment cost?", "no"], None),
    ("bad input", ["<script>alert(1)</script>", "'; DROP TABLE events; --", "🙂🙂🙂", "x" * 3000,
                   "مرحبا، هل العلاج مؤلم؟"], None),
]


@dataclass
class Tally:
    messages: int = 0
    errors: int = 0
    silent: int = 0
    latencies_ms: List[float] = field(default_factory=list)
    expected: Dict[str, Optional[str]] = field(default_factory=dict)
    failures: List[str] = field(default_factory=list)  # what each failed request was, for the report


async def rest_turn(client: httpx.AsyncClient, rasa: str, sender: str, text: str, tally: Tally) -> None:
    began = time.perf_counter()
    try:
        resp = await client.post(f"{rasa}/webhooks/rest/webhook", json={"sender": sender, "message": text})
        ok, replied = resp.status_code == 200, resp.status_code == 200 and bool(resp.json())
        if not ok:
            tally.failures.append(f"REST turn: HTTP {resp.status_code}")
    except (httpx.HTTPError, ValueError) as exc:
        ok = replied = False
        tally.failures.append(f"REST turn: {type(exc).__name__}: {exc}")
    tally.messages += 1
    tally.latencies_ms.append((time.perf_counter() - began) * 1000)
    tally.errors += not ok
    tally.silent += ok and not replied


async def webchat_conversation(client: httpx.AsyncClient, rasa: str, script: List[str], tally: Tally,
                               think: float) -> Optional[str]:
    import socketio

    resp = await client.post(f"{rasa}/webhooks/webchat/session", json={})
    token = resp.json()["token"]
    sio = socketio.AsyncClient()
    got: List[dict] = []
    sio.on("bot_uttered", lambda data: got.append(data))
    try:
        # python-socketio waits 1 s for the namespace handshake by default; on a busy machine the
        # server can take longer, which is slowness, not a failure (the turn latencies say how slow).
        await sio.connect(rasa, auth={"token": token}, socketio_path="/socket.io", transports=["polling"],
                          wait_timeout=30)
    except Exception as exc:  # noqa: BLE001
        tally.errors += 1
        tally.failures.append(f"web chat connect: {type(exc).__name__}: {exc}")
        return None
    for text in script:
        before, began = len(got), time.perf_counter()
        await sio.emit("user_uttered", {"message": text})
        deadline = time.monotonic() + 30
        while len(got) == before and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        tally.messages += 1
        if len(got) == before:
            tally.silent += 1
        else:
            tally.latencies_ms.append((time.perf_counter() - began) * 1000)
        await asyncio.sleep(think * random.uniform(0.5, 1.5))
    await sio.eio.disconnect(abort=True)
    from itsdangerous import URLSafeTimedSerializer

    # The conversation id the token names (its payload is readable; only the signature needs the secret).
    return URLSafeTimedSerializer("unused").loads_unsafe(token)[1]


async def drive(rasa: str, seconds: float, conversations: int, think: float, tally: Tally) -> None:
    deadline = time.monotonic() + seconds
    counter = iter(range(10**9))

    async def worker(client: httpx.AsyncClient, index: int) -> None:
        while time.monotonic() < deadline:
            n = next(counter)
            kind, script, level = SCRIPTS[n % len(SCRIPTS)]
            if index % 2:
                sender = await webchat_conversation(client, rasa, script, tally, think)
            else:
                sender = f"soak-{uuid.uuid4().hex[:12]}"
                for text in script:
                    await rest_turn(client, rasa, sender, text, tally)
                    await asyncio.sleep(think * random.uniform(0.5, 1.5))
            if sender:
                tally.expected[sender] = level

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(worker(client, i) for i in range(conversations)))


def escalation_account(database_url: str, expected: Dict[str, Optional[str]], wait: float = 60) -> dict:
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    deadline = time.monotonic() + wait
    with engine.connect() as conn:
        while True:
            pending = conn.execute(sa.text("SELECT count(*) FROM outbox WHERE status != 'delivered'")).scalar()
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(1)
        rows = conn.execute(sa.text("SELECT conversation_id, level FROM escalations WHERE reason = 'symptoms'")).all()
        outbox = conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar()
    engine.dispose()
    actual: Dict[str, List[str]] = {}
    for conversation, level in rows:
        actual.setdefault(conversation, []).append(level)
    want = {c: lvl for c, lvl in expected.items() if lvl}
    return {
        "warning_sign_conversations": len(want),
        "escalations": len(rows),
        "missing": sorted(c for c in want if c not in actual),
        "wrong_level": sorted(c for c, lvl in want.items() if c in actual and actual[c] != [lvl]),
        "duplicated": sorted(c for c, lvls in actual.items() if len(lvls) > 1),
        "unexpected": sorted(c for c in actual if c in expected and c not in want),
        "outbox_items": outbox,
        "outbox_undelivered": pending,
    }


def new_log_errors(log_dir: Path, offsets: Dict[str, int]) -> List[str]:
    found = []
    for log in sorted(log_dir.glob("*.log")):
        with open(log, "rb") as f:
            f.seek(offsets.get(log.name, 0))
            for line in f.read().decode(errors="replace").splitlines():
                if " ERROR " in line or "Traceback" in line:
                    found.append(f"{log.name}: {line[:200]}")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--conversations", type=int, default=8)
    parser.add_argument("--think", type=float, default=0.5, help="mean pause between a patient's messages (s)")
    parser.add_argument("--out", type=Path, default=paths.ROOT / "reports" / "soak")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="clinic-soak-") as tmp:
        work = Path(tmp)
        ports = {k: str(free_port()) for k in ("RASA_PORT", "ACTION_PORT", "CONSOLE_PORT")}
        database_url = f"sqlite:///{work / 'clinic.db'}"
        env = project_env(DATABASE_URL=database_url, LOG_DIR=str(work / "logs"), SPOOL_DIR=str(work / "spool"),
                          WEBCHAT_SECRET="soak-webchat-secret-0123456789abcdef", **ports)
        env.pop("TELEGRAM_BOT_TOKEN", None)
        launcher = subprocess.Popen([sys.executable, "-m", "bot.serve.run"], cwd=paths.ROOT, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            for line in launcher.stdout:
                if "Open the chat at" in line:
                    break
            if launcher.poll() is not None:
                print("the assistant did not start", file=sys.stderr)
                return 1
            rasa = f"http://127.0.0.1:{ports['RASA_PORT']}"
            offsets = {p.name: p.stat().st_size for p in (work / "logs").glob("*.log")}
            tally, samples = Tally(), []
            began = time.monotonic()

            async def run() -> None:
                async def sample() -> None:
                    while True:
                        procs = launched_children(launcher.pid)
                        samples.append({"t": round(time.monotonic() - began),
                                        **{n: round(rss_mb(pid)) for n, pid in procs.items()}})
                        await asyncio.sleep(15)

                sampler = asyncio.create_task(sample())
                await drive(rasa, args.seconds, args.conversations, args.think, tally)
                sampler.cancel()

            asyncio.run(run())
            elapsed = time.monotonic() - began
            account = escalation_account(database_url, tally.expected)
            errors_in_logs = new_log_errors(work / "logs", offsets)
            final = {"t": round(elapsed), **{n: round(rss_mb(pid)) for n, pid in launched_children(launcher.pid).items()}}
        finally:
            launcher.send_signal(signal.SIGTERM)
            try:
                launcher.wait(timeout=60)
            except subprocess.TimeoutExpired:
                launcher.kill()

    warm = next((s for s in samples if s["t"] >= min(120, elapsed / 5)), samples[0] if samples else final)
    memory = {n: {"after_warm_up_mb": warm.get(n), "end_mb": final.get(n),
                  "growth_mb": (final.get(n) or 0) - (warm.get(n) or 0)} for n in final if n != "t"}
    ordered = sorted(tally.latencies_ms)
    result = {
        "seconds": round(elapsed), "conversations": len(tally.expected), "concurrency": args.conversations,
        "messages": tally.messages, "errors": tally.errors, "silent": tally.silent,
        "failures": tally.failures[:20],
        "p50_ms": round(ordered[len(ordered) // 2]) if ordered else None,
        "p95_ms": round(ordered[int(len(ordered) * 0.95)]) if ordered else None,
        "escalations": account, "log_errors": errors_in_logs[:20], "log_error_count": len(errors_in_logs),
        "memory": memory, "memory_samples": samples,
    }
    # Flat: less than 10% (and 60 MB) growth after warm-up, for every process.
    flat = all(m["growth_mb"] <= max(60, 0.10 * (m["after_warm_up_mb"] or 0)) for m in memory.values())
    passed = (not tally.errors and not tally.silent and flat and not errors_in_logs
              and not any(account[k] for k in ("missing", "wrong_level", "duplicated", "unexpected",
                                                "outbox_undelivered")))
    result["memory_flat"], result["passed"] = flat, passed
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0 if passed else 1


def markdown(r: dict) -> str:
    e = r["escalations"]
    lines = [
        f"Soak run: {r['seconds']} s, {r['concurrency']} concurrent conversations (web chat and REST), "
        f"{r['conversations']} conversations, {r['messages']} messages.",
        "",
        "| check | result |", "| --- | --- |",
        f"| failed requests / messages without a reply | {r['errors']} / {r['silent']} |",
        f"| latency p50 / p95 (ms, with think time between turns) | {r['p50_ms']} / {r['p95_ms']} |",
        f"| conversations with a warning sign / escalations | {e['warning_sign_conversations']} / {e['escalations']} |",
        f"| missing / wrong level / duplicated / unexpected escalations | {len(e['missing'])} / "
        f"{len(e['wrong_level'])} / {len(e['duplicated'])} / {len(e['unexpected'])} |",
        f"| staff notifications / undelivered | {e['outbox_items']} / {e['outbox_undelivered']} |",
        f"| ERROR or Traceback lines in the logs during the run | {r['log_error_count']} |",
    ]
    lines += [f"| failed: {what} | 1 |" for what in r.get("failures") or []]
    for name, m in r["memory"].items():
        lines.append(f"| memory of {name}: after warm-up -> end (MB) | {m['after_warm_up_mb']} -> {m['end_mb']} "
                     f"({m['growth_mb']:+d}) |")
    lines.append(f"| memory flat / all checks passed | {r['memory_flat']} / {r['passed']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
