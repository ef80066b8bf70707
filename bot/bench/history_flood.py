"""How long another patient waits for the answer to a warning sign while one web chat socket
asks for its (long) history in a loop: with the history limit (the default) and without it
(HISTORY_BURST=0). Part of `make bench`; alone:

    python -m bot.bench.history_flood [--turns 10] [--flood 2000]

Writes reports/history-flood.md. Web chat is spoken as Engine.IO 4 / Socket.IO 5 frames over a
plain websocket, one frame per request, as a hostile script would send them.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Dict, List

from bot.config import paths
from bot.serve.processes import free_port, project_env

WARNING_SIGN = "I had my injections yesterday and now I have a fever and the redness is spreading"
REPORT = paths.ROOT / "reports" / "history-flood.md"


def _session(base: str) -> str:
    req = urllib.request.Request(f"{base}/webhooks/webchat/session", method="POST", data=b"{}",
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())["token"]


async def _socket(base: str, token: str):
    import websockets

    ws = await websockets.connect(base.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket",
                                  max_size=None)
    assert (await ws.recv()).startswith("0")
    await ws.send("40" + json.dumps({"token": token}))
    assert (await ws.recv()).startswith("40")
    return ws


async def _say(ws, text: str, until: str, timeout: float = 120.0) -> float:
    """Seconds from sending `text` until a bot message containing `until` arrives."""
    began = time.perf_counter()
    await ws.send("42" + json.dumps(["user_uttered", {"message": text}]))
    deadline = began + timeout
    while time.perf_counter() < deadline:
        frame = await asyncio.wait_for(ws.recv(), deadline - time.perf_counter())
        if frame == "2":
            await ws.send("3")
        elif frame.startswith('42["bot_uttered"') and until in (json.loads(frame[2:])[1].get("text") or "").lower():
            return time.perf_counter() - began
    raise TimeoutError(f"no reply containing {until!r}")


async def _flood(base: str, token: str, requests: int, stop: asyncio.Event) -> Dict[str, int]:
    ws = await _socket(base, token)
    counts = {"sent": 0, "served": 0, "refused": 0}

    async def read():
        while True:
            frame = await ws.recv()
            if frame == "2":
                await ws.send("3")
            elif frame.startswith('42["history"'):
                counts["served" if "messages" in json.loads(frame[2:])[1] else "refused"] += 1

    reader = asyncio.create_task(read())
    while counts["sent"] < requests and not stop.is_set():
        await ws.send('42["history_request"]')
        counts["sent"] += 1
        if counts["sent"] % 50 == 0:
            await asyncio.sleep(0)  # let the reader run
    await stop.wait()
    reader.cancel()
    await ws.close()
    return counts


async def _measure(base: str, turns: int, flood: int, history_turns: int) -> Dict[str, object]:
    # The flooder's conversation is long, so each history read it gets costs the server.
    flooder = _session(base)
    ws = await _socket(base, flooder)
    for i in range(history_turns):
        await _say(ws, f"what are exosomes? ({i})", "exosome")
    await ws.close()

    async def warning_turns() -> List[float]:
        out = []
        for _ in range(turns):
            patient = await _socket(base, _session(base))
            out.append(await _say(patient, WARNING_SIGN, "clinic"))
            await patient.close()
        return out

    quiet = await warning_turns()
    stop = asyncio.Event()
    flooding = asyncio.create_task(_flood(base, flooder, flood, stop))
    await asyncio.sleep(0.5)
    loaded = await warning_turns()
    stop.set()
    counts = await flooding
    return {"quiet": quiet, "flood": loaded, **counts}


def _run_server(work: Path, extra: Dict[str, str]):
    rasa_port, action_port, console_port = free_port(), free_port(), free_port()
    env = project_env(RASA_PORT=str(rasa_port), ACTION_PORT=str(action_port), CONSOLE_PORT=str(console_port),
                      DATABASE_URL=f"sqlite:///{work / 'bench.db'}", LOG_DIR=str(work / "logs"),
                      RASA_API_TOKEN="bench-api-token", WEBCHAT_SECRET="bench-webchat-secret-0123456789abcdef",
                      RATE_LIMIT_PER_MINUTE="0", **extra)
    proc = subprocess.Popen([sys.executable, "-m", "bot.serve.run"], cwd=paths.ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "Open the chat at" in line:
            return proc, f"http://127.0.0.1:{rasa_port}"
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("the assistant did not start for the history-flood benchmark")


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def _ms(values: List[float], q: float) -> float:
    values = sorted(values)
    return 1000 * values[min(len(values) - 1, int(q * len(values)))]


def run(turns: int = 10, flood: int = 2000, history_turns: int = 30) -> str:
    rows = []
    for label, extra in (("limit on (default)", {}), ("limit off (HISTORY_BURST=0)", {"HISTORY_BURST": "0"})):
        with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
            proc, base = _run_server(Path(tmp), extra)
            try:
                got = asyncio.run(_measure(base, turns, flood, history_turns))
            finally:
                _stop(proc)
        rows.append(f"| {label} | {statistics.median(got['quiet']) * 1000:.0f} | "
                    f"{statistics.median(got['flood']) * 1000:.0f} | {_ms(got['flood'], 0.9):.0f} | "
                    f"{got['sent']} | {got['served']} | {got['refused']} |")
    table = "\n".join([
        f"Warning-sign turns of other patients (ms, {turns} each) while one socket sends up to {flood} "
        f"history requests for a {history_turns}-turn conversation:",
        "",
        "| history limit | median, quiet | median, flood | p90, flood | requests sent | served | refused (told) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ])
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(table + "\n")
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--flood", type=int, default=2000)
    parser.add_argument("--history-turns", type=int, default=30)
    args = parser.parse_args(argv)
    print(run(args.turns, args.flood, args.history_turns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
