"""`make bench`: our assistant against stock Rasa (`rasa init`'s config.yml) trained on the
same data, on this machine, in one run. Prints and writes reports/bench.md, bench.json and
bench.png.

    python -m bot.bench [--skip-train] [--messages 200]

Measures, for each: full training time (fresh cache), cold start (process start until the
first correct answer), resident memory of the Rasa server after warm-up, throughput and
p50/p95/p99 latency at 1, 10 and 50 concurrent conversations over the REST channel, and
answer accuracy on ../shared/eval/dev.yml. Servers run on loopback; loads are bounded.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bot.config import paths
from bot.bench.load import run_load
from bot.config.logging_setup import configure_logging
from bot.model import record_hash
from bot.serve.processes import action_server, children, free_port, project_env, rss_mb, stop
from bot.storage.db import upgrade

BENCH_MODELS = paths.MODELS_DIR / "bench"
REPORTS = paths.ROOT / "reports"
SYSTEMS = {"ours": paths.ROOT / "config.yml", "stock Rasa": paths.ROOT / "bench" / "baseline-config.yml"}
SLUGS = {"ours": "ours", "stock Rasa": "baseline"}  # models/bench/<slug>.tar.gz
CLIS = {"ours": "bot.serve.rasa_cli", "stock Rasa": "rasa"}  # ours with bot.rasa_ext, as make run


@dataclass(frozen=True)
class Server:
    """One measured configuration: which model, and how its Rasa server is started."""
    system: str       # a key of SYSTEMS
    command: tuple    # python -m ...
    endpoints: Path
    workers: int = 1


# Ours is started as `make run` starts it (bot.serve.rasa_cli, endpoints.yml), with one worker
# process and with two (SANIC_WORKERS, one per core here); stock Rasa as `rasa run` starts it.
SERVERS = {
    "ours, 1 worker": Server("ours", ("bot.serve.rasa_cli", "run"), paths.ROOT / "endpoints.yml", 1),
    "ours, 2 workers": Server("ours", ("bot.serve.rasa_cli", "run"), paths.ROOT / "endpoints.yml", 2),
    "stock Rasa": Server("stock Rasa", ("rasa", "run"), paths.ROOT / "bench" / "baseline-endpoints.yml", 1),
}
CONCURRENCY = (1, 10, 50)
PROBE = "can I take ibuprofen after the treatment?"


def train(name: str, config: Path, cache: Path, cli: str = "rasa") -> float:
    """Full training on an empty cache with `python -m CLI train`; returns seconds."""
    BENCH_MODELS.mkdir(parents=True, exist_ok=True)
    env = project_env(RASA_CACHE_DIRECTORY=str(cache))
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", cli, "train", "--domain", "domain", "--data", "data",
                    "--config", str(config), "--out", str(BENCH_MODELS), "--fixed-model-name", name],
                   cwd=paths.ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - began
    record_hash(BENCH_MODELS / f"{name}.tar.gz")
    return seconds


def first_answer(rasa_url: str, expected: str, proc, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    body = json.dumps({"sender": f"cold-{time.time()}", "message": PROBE}).encode()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the Rasa server exited during start-up")
        try:
            req = urllib.request.Request(f"{rasa_url}/webhooks/rest/webhook", data=body,
                                         headers={"Content-Type": "application/json"}, method="POST")
            replies = json.loads(urllib.request.urlopen(req, timeout=30).read())
            if any(expected[:40] in (r.get("text") or "") for r in replies):
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.2)
    raise TimeoutError("no correct answer before the timeout")


def memory_mb(pid: int) -> dict:
    """The largest resident set among the server's processes, and the proportional set size of
    them all (shared pages counted once, split between the processes sharing them)."""
    pids = [pid, *children(pid)]
    pss = 0.0
    for p in pids:
        try:
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) / 1024
        except OSError:
            pass
    return {"rss_mb": round(max(rss_mb(p) for p in pids)), "pss_total_mb": round(pss), "processes": len(pids)}


def measure(name: str, model: Path, action_url: str, database_url: str, messages: int, work: Path) -> dict:
    from bot.knowledge import load_knowledge_base

    expected = load_knowledge_base().get("aftercare_nsaids").answer
    port = free_port()
    server = SERVERS[name]
    # Anything the fail-safe layer spools stays in the run's directory, not in the checkout.
    env = project_env(DATABASE_URL=database_url, ACTION_ENDPOINT_URL=action_url, SPOOL_DIR=str(work / "spool"),
                      SANIC_WORKERS=str(server.workers), CONVERSATION_LOCK_FILE=str(work / "locks"))
    log = open(work / f"rasa-{name.replace(' ', '_').replace(',', '')}.log", "wb")
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", *server.command, "--model", str(model), "--endpoints",
                             str(server.endpoints), "--credentials", str(work / "credentials.yml"),
                             "-i", "127.0.0.1", "-p", str(port)],
                            cwd=paths.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    rasa_url = f"http://127.0.0.1:{port}"
    try:
        first_answer(rasa_url, expected, proc)
        cold = time.perf_counter() - began
        asyncio.run(run_load(rasa_url, 4 * server.workers, 40 * server.workers))  # warm-up
        memory = memory_mb(proc.pid)
        loads = [asyncio.run(run_load(rasa_url, c, messages)).row() for c in CONCURRENCY]
        after = memory_mb(proc.pid)
        memory = {k: max(memory[k], after[k]) for k in memory}
    finally:
        stop(proc)
        log.close()
    return {"cold_start_s": round(cold, 1), **memory, "loads": loads}


def dev_accuracy(model: Path) -> dict:
    from bot.eval.cases import load_cases
    from bot.eval.runner import run
    from bot.knowledge.loader import load_topics

    dev = paths.ROOT.parent / "shared" / "eval" / "dev.yml"
    if not dev.exists():
        return {}
    summary = run(load_cases(dev, load_topics()), model)["summary"]
    return {k: summary[k] for k in ("answer_accuracy", "none_turns_served_an_entry", "escalation_recall",
                                    "false_escalation_rate")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-train", action="store_true",
                        help="reuse models/bench/*.tar.gz and their recorded training times")
    parser.add_argument("--messages", type=int, default=600, help="messages per concurrency level")
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    results, trained = {}, {}
    with tempfile.TemporaryDirectory(prefix="clinic-bench-") as tmp:
        work = Path(tmp)
        (work / "credentials.yml").write_text("rest:\n")
        database_url = f"sqlite:///{work / 'bench.db'}"
        upgrade(database_url)
        for name, config in SYSTEMS.items():
            slug = SLUGS[name]
            model = BENCH_MODELS / f"{slug}.tar.gz"
            timing = BENCH_MODELS / f"{slug}.train_seconds"
            if not args.skip_train or not model.exists():
                print(f"training {name} (fresh cache) ...", flush=True)
                timing.write_text(f"{train(slug, config, work / f'cache-{slug}', CLIS[name]):.1f}\n")
            trained[name] = {"train_s": float(timing.read_text()) if timing.exists() else None}
        with action_server(database_url, log_path=work / "actions.log",
                           extra_env={"SPOOL_DIR": str(work / "spool")}) as action_url:
            for name, server in SERVERS.items():
                print(f"measuring {name} ...", flush=True)
                results[name] = {**trained[server.system], **measure(
                    name, BENCH_MODELS / f"{SLUGS[server.system]}.tar.gz", action_url, database_url,
                    args.messages, work)}
        for system in SYSTEMS:
            print(f"dev accuracy of {system} ...", flush=True)
            dev = dev_accuracy(BENCH_MODELS / f"{SLUGS[system]}.tar.gz")  # the model's, whatever serves it
            for name, server in SERVERS.items():
                if server.system == system:
                    results[name]["dev"] = dev
    from bot.bench.encoder_cost import measure as encoder_cost
    from bot.bench.report import write_reports

    markdown = write_reports(results, REPORTS)
    print(markdown)
    # The sentence encoder's CPU per message (triage and answer selection share one pass).
    cost = encoder_cost()
    (REPORTS / "encoder-cost.json").write_text(json.dumps(cost, indent=2) + "\n")
    print("encoder cost per message (CPU, one thread):", json.dumps(cost))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
