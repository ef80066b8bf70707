"""Start and stop the project's own server processes (used by the eval runner, tests and
benchmarks); every server binds to loopback only."""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from bot.config import paths


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: Optional[subprocess.Popen] = None,
              stop: Optional[threading.Event] = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with code {proc.returncode}")
        if stop is not None and stop.is_set():
            raise InterruptedError("stopped while waiting for " + url)
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except Exception as exc:  # noqa: BLE001 - any failure means "not up yet"
            last = exc
        time.sleep(0.3)
    raise TimeoutError(f"{url} not up after {timeout:.0f}s: {last}")


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    stop_all([proc], timeout)


def stop_all(procs: List[subprocess.Popen], timeout: float = 15) -> List[subprocess.Popen]:
    """One SIGTERM to each, then wait for them together; what is left at the deadline is
    killed, and returned. Every server here (Sanic, uvicorn, the worker) stops gracefully on
    SIGTERM, and a process still importing ends quietly, where SIGINT would print a
    KeyboardInterrupt traceback; a second signal would cut a graceful stop short."""
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    killed = []
    for proc in running:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
            killed.append(proc)
    return killed


# The shared secret the Rasa server sends the action server (endpoints.yml headers): one per
# launching process unless configured, so every server it starts agrees on it.
_ACTION_SERVER_TOKEN = secrets.token_urlsafe(32)


def action_server_token() -> str:
    return os.environ.get("ACTION_SERVER_TOKEN") or _ACTION_SERVER_TOKEN


def project_env(**overrides: str) -> Dict[str, str]:
    env = dict(os.environ)
    env["ACTION_SERVER_TOKEN"] = action_server_token()
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Never send telemetry or crash reports (which can hold patient text) to Rasa's servers.
    env["RASA_TELEMETRY_ENABLED"] = "false"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(paths.ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(overrides)
    return env


@contextmanager
def action_server(database_url: str, port: Optional[int] = None, log_path: Optional[Path] = None,
                  extra_env: Optional[Dict[str, str]] = None, timeout: float = 90) -> Iterator[str]:
    """Run the action server; yields its webhook URL."""
    port = port or free_port()
    env = project_env(DATABASE_URL=database_url, SANIC_HOST="127.0.0.1", **(extra_env or {}))
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    cmd: List[str] = [sys.executable, "-m", "bot.serve.action_server", "--actions", "actions", "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=paths.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout, proc)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        stop(proc)
        if log_path:
            log.close()


def children(pid: int) -> List[int]:
    """The direct child processes of `pid` (e.g. a Sanic server's workers)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(x) for x in out]


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux /proc), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


LAUNCHED = {"rasa": ("bot.serve.rasa_cli run", " rasa run"), "actions": ("bot.serve.action_server",), "worker": ("bot.serve.worker",),
            "console": ("bot.serve.console",)}


def launched_children(parent: int) -> Dict[str, int]:
    """{name: pid} of the processes bot.serve.run started under `parent` (from /proc)."""
    found: Dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if ppid != parent:
            continue
        for name, markers in LAUNCHED.items():
            if any(marker in f" {cmdline}" for marker in markers):
                found[name] = int(entry.name)
    return found


@contextmanager
def rasa_server(database_url: str, model: Path, token: str, log_path: Path,
                extra_env: Optional[Dict[str, str]] = None, timeout: float = 300) -> Iterator[str]:
    """Run the Rasa server as `make run` starts it (API on, behind `token`), with no action
    server behind it; yields its base URL. It follows the database's live model
    (bot/rasa_ext/live/model_swap.py): what it serves is `served_model(url, token)`."""
    port = free_port()
    env = project_env(DATABASE_URL=database_url, RASA_API_TOKEN=token, SANIC_HOST="127.0.0.1",
                      ACTION_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}/webhook", **(extra_env or {}))
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bot.serve.rasa_server", "-m", "bot.serve.rasa_cli", "run",
                                 "--model", str(model), "--endpoints", "endpoints.yml", "--credentials",
                                 "credentials.yml", "-i", "127.0.0.1", "-p", str(port), "--enable-api"],
                                cwd=paths.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_http(f"http://127.0.0.1:{port}/", timeout, proc)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(proc, timeout=60)


def served_model(base_url: str, token: str) -> str:
    """The file name of the model a Rasa server serves (its /status, behind the API token)."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{base_url}/status?token={token}", timeout=30) as response:
        return Path(json.loads(response.read())["model_file"]).name
