"""The deployment's own servers, run for real on loopback from the shipped files in deploy/
(no Docker engine here, so each is started directly, with only its address changed):

- the public balancer: Debian's nginx with deploy/nginx.conf, in front of a recording HTTP
  server standing in for the Rasa replicas. Only the patient-facing routes reach it, and only
  as a path that Rasa routes to those same routes: nginx matches the allow-list against the
  normalised path but forwards the raw one, and Rasa (Sanic) routes the raw path without
  normalising it ("/conversations/ID/../../webhooks/webchat/tracker" was web chat to nginx
  and the conversation API to Rasa);
- Redis with the compose file's command: nothing without the password, and the password on
  no command line;
- the Rasa server with the compose file's command: the API token from the environment, not
  on the process's command line, and the API still needs it.
"""
import asyncio
import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest
import yaml

from bot.config import paths
from bot.serve.processes import free_port, project_env, stop, wait_http

DEPLOY = paths.ROOT / "deploy"
SCRIPTS = paths.ROOT / "scripts"


# ---------------------------------------------------------------------------- compose helpers

def compose_services():
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]


def interpolate(value: str, env: dict) -> str:
    """What Docker Compose does to a value: ${VAR}, ${VAR:-default}, ${VAR:?error} and $VAR
    are replaced from the environment, and "$$" stands for a literal "$"."""
    def one(m):
        if m.group(0) == "$$":
            return "$"
        name = m.group("braced") or m.group("bare")
        if name not in env and m.group("op") == ":?":
            raise KeyError(f"{name} is required by the compose file")
        return env.get(name, m.group("default") or "")

    return re.sub(r"\$\$|\$\{(?P<braced>\w+)(?:(?P<op>:[-?])(?P<default>[^}]*))?\}|\$(?P<bare>\w+)", one, value)


def wait_for_port(port: int, proc: subprocess.Popen, what: str, deadline_s: float = 120) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on port {port}")
            time.sleep(0.05)


def command_line(pid: int) -> str:
    return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")


def process_tree(pid: int) -> list:
    """pid and its descendants (Rasa may start helper processes)."""
    tree, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            kids = open(f"/proc/{parent}/task/{parent}/children").read().split()
        except OSError:
            continue
        tree += [int(k) for k in kids]
        frontier += [int(k) for k in kids]
    return tree


# ------------------------------------------------------------------------------- the balancer

class Recorder:
    """Loopback HTTP servers in place of the Rasa replicas, recording every request line's
    target exactly as it arrived."""

    def __init__(self, count: int = 2):
        self.seen, self.lock = [], threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with recorder.lock:
                    recorder.seen.append((self.command, self.path))
                body = b"upstream"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

            def log_message(self, *args):
                pass

        self.servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(count)]
        for server in self.servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()

    @property
    def ports(self):
        return [s.server_address[1] for s in self.servers]

    def take(self):
        with self.lock:
            seen, self.seen = self.seen, []
        return seen

    def close(self):
        for server in self.servers:
            server.shutdown()
            server.server_close()


def balancer_config(upstream_ports, listen_port, work) -> str:
    """deploy/nginx.conf with the replicas' addresses and the listening address made local,
    and its logs and temporary files in `work`; every other line as shipped."""
    conf = (DEPLOY / "nginx.conf").read_text()
    ports = iter(upstream_ports)
    conf, replicas = re.subn(r"server rasa-\d+:5005;", lambda _: f"server 127.0.0.1:{next(ports)};", conf)
    conf, listens = re.subn(r"\blisten 80;", f"listen 127.0.0.1:{listen_port};", conf)
    assert (replicas, listens) == (len(upstream_ports), 1), "deploy/nginx.conf changed shape: update this test"
    local = "".join(f"  {d} {work}/{d};\n" for d in ("client_body_temp_path", "proxy_temp_path",
                                                     "fastcgi_temp_path", "uwsgi_temp_path", "scgi_temp_path"))
    conf, https = re.subn(r"^http \{\n", f"http {{\n  access_log {work}/logs/access.log;\n{local}", conf,
                          flags=re.M)
    assert https == 1
    return conf


@pytest.fixture(scope="session")
def nginx_installed():
    subprocess.run([str(SCRIPTS / "nginx.sh"), "install"], check=True)


@pytest.fixture
def balancer(nginx_installed, tmp_path):
    """Real nginx running deploy/nginx.conf on a loopback port; a fresh one per test, so that
    the per-IP request limits of one test never refuse another's requests."""
    recorder = Recorder()
    work = tmp_path / "nginx"
    work.mkdir()
    port = free_port()
    (work / "nginx.conf").write_text(balancer_config(recorder.ports, port, work))
    log = open(tmp_path / "nginx.out", "wb")
    proc = subprocess.Popen([str(SCRIPTS / "nginx.sh"), "run", str(work), str(work / "nginx.conf")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            wait_for_port(port, proc, "nginx")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n{(tmp_path / 'nginx.out').read_text(errors='replace')}") from None
        yield port, recorder
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # nginx: fast shutdown
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        recorder.close()


def request(port: int, method: str, target: str):
    """Sends `target` as the request line's target, byte for byte (no client-side cleaning)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, target, body=b"{}" if method in ("POST", "PUT") else None,
                     headers={"Content-Type": "application/json"} if method in ("POST", "PUT") else {})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


# What Rasa serves publicly (see the allow-list in deploy/nginx.conf): the web chat (page,
# static files, session), socket.io, the Telegram webhook and readiness.
PUBLIC_EXACT = ("/webhooks/webchat/session", "/webhooks/telegram/webhook", "/webhooks/health/ready")
PUBLIC_PREFIXES = ("/webhooks/webchat/", "/socket.io/")


def routed_as_public(target: str) -> bool:
    """True if an upstream that routes the raw path, as Sanic does, and one that first
    normalises it, as many servers do, would both take `target` to a public route: no
    %-escape, doubled slash, dot segment, backslash or fragment that could make the two
    differ, and the path on the allow-list."""
    path = target.split("?", 1)[0]
    segments = path.split("/")[1:]
    canonical = (path.startswith("/") and unquote(path) == path and "//" not in path
                 and "\\" not in path and "#" not in path and not {".", ".."} & set(segments))
    return canonical and (path in PUBLIC_EXACT or path.startswith(PUBLIC_PREFIXES))


@pytest.mark.parametrize("method, target", [
    ("GET", "/webhooks/webchat/"),
    ("GET", "/webhooks/webchat/static/widget.js"),
    ("POST", "/webhooks/webchat/session"),
    ("GET", "/socket.io/?EIO=4&transport=polling&t=Pq3x"),
    ("POST", "/socket.io/?EIO=4&transport=polling&sid=a%2Fb"),  # escapes in the query are fine
    ("POST", "/webhooks/telegram/webhook"),
    ("GET", "/webhooks/health/ready"),
])
def test_the_patient_facing_routes_reach_rasa_unchanged(balancer, method, target):
    port, recorder = balancer
    assert request(port, method, target) == 200
    assert recorder.take() == [(method, target)]


@pytest.mark.parametrize("method, target", [
    ("GET", "/conversations/abc/tracker"),
    ("POST", "/conversations/abc/messages"),
    ("POST", "/conversations/abc/execute"),
    ("GET", "/status"),
    ("GET", "/version"),
    ("GET", "/domain"),
    ("POST", "/model/train"),
    ("PUT", "/model"),
    ("POST", "/webhooks/rest/webhook"),
    ("GET", "/"),
])
def test_rasa_api_and_the_rest_channel_are_not_public(balancer, method, target):
    port, recorder = balancer
    assert request(port, method, target) == 404
    assert recorder.take() == []


TRICKS = [
    # The API's "<conversation_id:path>" routes take any number of segments, so a raw path
    # that normalises into an allowed prefix is still the API's to Rasa.
    ("GET", "/conversations/x/../../webhooks/webchat/tracker"),
    ("POST", "/conversations/x/../../webhooks/webchat/tracker/events"),
    ("POST", "/conversations/x/../../webhooks/webchat/execute"),
    ("POST", "/conversations/x/../../socket.io/messages"),
    ("GET", "/conversations/x/./../../webhooks/webchat/tracker"),
    ("GET", "/conversations/x/%2e%2e/%2e%2e/webhooks/webchat/tracker"),
    ("GET", "/conversations/x/%2E%2E/%2E%2E/socket.io/tracker"),
    ("GET", "/conversations/x/..%2F..%2Fwebhooks/webchat/tracker"),
    ("GET", "//conversations/x/../../webhooks/webchat/tracker"),
    ("GET", "http://rasa/conversations/x/../../webhooks/webchat/tracker"),  # absolute form
    ("GET", "/status/../webhooks/health/ready"),
    ("GET", "/model/../webhooks/webchat/session"),
    # From an allowed prefix out to the API.
    ("POST", "/webhooks/webchat/../../model/train"),
    ("POST", "/webhooks/webchat/%2e%2e/%2e%2e/model/train"),
    ("POST", "/webhooks/webchat/..%2F..%2Fmodel%2Ftrain"),
    ("GET", "/webhooks/webchat%2F..%2F..%2Fstatus"),
    ("GET", "/socket.io/../conversations/x/tracker"),
    ("GET", "/webhooks/webchat/static/..%2F..%2F..%2Fconversations%2Fx%2Ftracker"),
    ("GET", "/webhooks/webchat/%2Fconversations/x/tracker"),
    ("GET", "/webhooks/webchat/..\\..\\conversations/x/tracker"),
    ("GET", "/webhooks/webchat/#/../../../conversations/x/tracker"),
    # Spellings of allowed routes that an upstream could read differently.
    ("POST", "/webhooks//webchat/session"),
    ("GET", "/webhooks/webchat//"),
    ("GET", "/webhooks/%77ebchat/"),
    ("GET", "/webhooks/webchat/x/.."),
]


@pytest.mark.parametrize("method, target", TRICKS)
def test_a_path_that_normalises_onto_the_allow_list_never_reaches_rasa_as_another_route(balancer, method,
                                                                                       target):
    port, recorder = balancer
    status = request(port, method, target)
    reached = recorder.take()
    leaked = [path for _, path in reached if not routed_as_public(path)]
    assert not leaked, f"nginx answered {status} and forwarded {leaked} to Rasa"
    if not reached:
        assert 400 <= status < 500, status


# -------------------------------------------------------------------------------------- Redis

@pytest.fixture(scope="session")
def redis_installed():
    # scripts/redis.sh installs redis-server when it is missing; stopping a server that was
    # never started does nothing else.
    with tempfile.TemporaryDirectory() as empty:
        subprocess.run([str(SCRIPTS / "redis.sh"), "stop", empty], check=True)


def test_redis_as_deployed_needs_its_password_and_shows_it_on_no_command_line(redis_installed, tmp_path):
    import redis

    from bot.storage.lock_store import AtomicRedisLockStore

    services = compose_services()
    password = secrets.token_urlsafe(32)
    env = {"REDIS_PASSWORD": password}
    command = [interpolate(part, env) for part in services["redis"]["command"]]
    port = free_port()
    local = ["--port", str(port), "--bind", "127.0.0.1"]
    # A shell command takes extra options after its $0; redis-server takes them directly.
    command += ["redis-server", *local] if command[:2] == ["sh", "-c"] else local
    log = open(tmp_path / "redis.log", "wb")
    proc = subprocess.Popen(command, cwd=tmp_path, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, "redis-server")
        anonymous = redis.Redis(host="127.0.0.1", port=port, socket_timeout=30)
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.ping()
        assert redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=30).ping()
        for pid in process_tree(proc.pid):
            assert password not in command_line(pid)

        # The lock store, with the URL the Rasa replicas are given (host and port made local).
        url = interpolate(services["rasa-1"]["environment"]["REDIS_URL"], env).replace(
            "@redis:6379/", f"@127.0.0.1:{port}/")
        assert password in url

        async def take_a_lock():
            store = AtomicRedisLockStore(url=url, key_prefix="deploy-test:")
            async with store.lock("conversation", lock_lifetime=30, wait_time_in_seconds=0.01):
                return await store.redis.exists("deploy-test:conversation")

        assert asyncio.run(take_a_lock()) == 1
    finally:
        stop(proc)
        log.close()


# --------------------------------------------------------------------------------------- Rasa

@pytest.mark.slow
def test_the_rasa_command_takes_its_token_from_the_environment(tmp_path):
    """The compose file's Rasa command, with a local address and light endpoints (no
    PostgreSQL or Redis needed for this): the token is on no process's command line, and the
    API answers only with it."""
    (tmp_path / "credentials.yml").write_text("rest:\n")
    (tmp_path / "endpoints.yml").write_text("action_endpoint:\n  url: http://127.0.0.1:9/webhook\n")
    token = secrets.token_urlsafe(32)
    env = {"RASA_API_TOKEN": token}
    command = [interpolate(part, env) for part in compose_services()["rasa-1"]["command"]]
    port = free_port()
    replace = {"--endpoints": str(tmp_path / "endpoints.yml"), "--credentials": str(tmp_path / "credentials.yml"),
               "-i": "127.0.0.1", "-p": str(port)}
    for option, value in replace.items():
        command[command.index(option) + 1] = value
    assert command[0] == "python"
    command[0] = sys.executable
    log = open(tmp_path / "rasa.log", "wb")
    proc = subprocess.Popen(command, cwd=paths.ROOT, env=project_env(**env), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/", 300, proc)
        for pid in process_tree(proc.pid):
            assert token not in command_line(pid), command_line(pid)
        assert request(port, "GET", "/status") == 401
        deadline = time.monotonic() + 120  # the model may still be loading
        while request(port, "GET", f"/status?token={token}") != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert request(port, "GET", f"/status?token={token}") == 200
    finally:
        stop(proc)
        log.close()
