"""Rasa's HTTP API on the live assistant (started as `make run` starts it): closed without
the token, bound to loopback only, no CORS for foreign origins, and the /model API closed
even with the token (bot/rasa_ext/safety/api_hardening.py)."""
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from bot.config import paths
from bot.model import verified_model
from bot.serve.processes import free_port, project_env, stop, wait_http
from tests.e2e.channel_clients import api, http, rest_say, tracker

pytestmark = pytest.mark.slow
EVIL = "https://evil.example"

WITHOUT_TOKEN = [
    ("GET", "/status", None),
    ("GET", "/domain", None),
    ("GET", "/conversations/sec-probe/tracker", None),
    ("GET", "/conversations/sec-probe/story", None),
    ("POST", "/conversations/sec-probe/messages", {"text": "hello", "sender": "user"}),
    ("POST", "/conversations/sec-probe/tracker/events", {"event": "slot", "name": "contact", "value": "attacker"}),
    ("POST", "/conversations/sec-probe/execute", {"name": "utter_greet"}),
    ("POST", "/conversations/sec-probe/trigger_intent", {"name": "greet"}),
    ("POST", "/model/parse", {"text": "hello"}),
]


@pytest.mark.parametrize("method, path, body", WITHOUT_TOKEN, ids=[f"{m} {p}" for m, p, _ in WITHOUT_TOKEN])
def test_the_api_refuses_requests_without_the_right_token(live, method, path, body):
    assert http(method, f"{live.rasa_url}{path}", body)[0] in (401, 403)
    assert http(method, f"{live.rasa_url}{path}?token=not-the-token", body)[0] in (401, 403)


def test_nothing_was_written_by_the_refused_requests_and_the_token_works(live):
    status, _, body = api(live, "/status")
    assert status == 200 and json.loads(body)["model_file"]
    state = tracker(live, "sec-probe")
    # (Reading the tracker starts a session, so a greeting may be there; nothing else is.)
    assert not [e for e in state["events"] if e["event"] == "user"]
    assert not [e for e in state["events"] if e["event"] == "slot" and e.get("value") == "attacker"]
    assert state["slots"].get("contact") is None


# --- loopback only ---------------------------------------------------------------------------

def _process_tree(root):
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, []))
    return tree


def _socket_inodes(pids):
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def _address(hex_ip):
    raw = bytes.fromhex(hex_ip)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    return socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))


def listening(pids):
    """(address, port) of every TCP socket in LISTEN state held by these processes."""
    inodes, found = _socket_inodes(pids), []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:
                ip, port = cols[1].split(":")
                found.append((_address(ip), int(port, 16)))
    return found


def _loopback(address):
    return address == "::1" or address.startswith("127.") or address.startswith("::ffff:127.")


def _own_addresses():
    """This machine's non-loopback IPv4 addresses (none if it has no network)."""
    found = set()
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        found.add(probe.getsockname()[0])
        probe.close()
    except OSError:
        pass
    try:
        found.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    return {a for a in found if not _loopback(a) and a != "0.0.0.0"}


def test_every_server_listens_on_loopback_only(live):
    # The check itself can see a socket open to the network.
    with socket.socket() as exposed:
        exposed.bind(("0.0.0.0", 0))
        exposed.listen()
        assert ("0.0.0.0", exposed.getsockname()[1]) in listening({os.getpid()})

    sockets = listening(_process_tree(live.proc.pid))
    rasa_port = int(live.rasa_url.rsplit(":", 1)[1])
    console_port = int(live.console_url.rsplit(":", 1)[1])
    ports = {port for _, port in sockets}
    assert {rasa_port, console_port} <= ports, sockets
    assert len(ports) >= 3, sockets  # the action server too
    assert all(_loopback(address) for address, _ in sockets), sockets

    for address in _own_addresses():
        for port in ports:
            with socket.socket() as s:
                s.settimeout(3)
                with pytest.raises(OSError):
                    s.connect((address, port))


# --- CORS ---------------------------------------------------------------------------------

def _allowed_origin(headers):
    return headers.get("Access-Control-Allow-Origin")


def test_a_foreign_origin_gets_no_cors_permission(live):
    origin = {"Origin": EVIL}
    preflight = {**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    probes = [
        ("GET", "/version", None, origin),
        ("GET", f"/status?token={live.api_token}", None, origin),
        ("GET", f"/conversations/sec-cors/tracker?token={live.api_token}", None, origin),
        ("OPTIONS", "/conversations/sec-cors/tracker", None, {**origin, "Access-Control-Request-Method": "GET"}),
        ("OPTIONS", "/webhooks/rest/webhook", None, preflight),
        ("POST", "/webhooks/rest/webhook", {"sender": "sec-cors", "message": "hello"}, origin),
        ("OPTIONS", "/webhooks/webchat/session", None, preflight),
        ("POST", "/webhooks/webchat/session", {"token": None}, origin),
        ("GET", "/webhooks/webchat/", None, origin),
    ]
    for method, path, body, headers in probes:
        status, got, _ = http(method, f"{live.rasa_url}{path}", body, headers)
        assert _allowed_origin(got) not in (EVIL, "*"), (method, path, dict(got))

    # socket.io: the handshake from a foreign origin is refused outright...
    handshake = f"{live.rasa_url}/socket.io/?EIO=4&transport=polling"
    status, got, _ = http("GET", handshake, None, origin)
    assert status >= 400 and _allowed_origin(got) not in (EVIL, "*"), (status, dict(got))
    status, got, _ = http("OPTIONS", handshake, None, {**origin, "Access-Control-Request-Method": "GET"})
    assert _allowed_origin(got) not in (EVIL, "*"), (status, dict(got))
    # ...while the same handshake from the page itself (no Origin) is accepted.
    assert http("GET", handshake)[0] == 200


# --- the /model API, with the token --------------------------------------------------------

def _harmless_archive(tmp_path):
    path = tmp_path / "harmless-model.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        data = b"not a model\n"
        info = tarfile.TarInfo("README.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


CLOSED = [
    ("PUT", "/model", "archive"),
    ("PUT", "/model", {"model_server": {"url": "http://127.0.0.1:9/model.tar.gz"}}),
    ("DELETE", "/model", None),
    ("POST", "/model/train", b"version: '3.1'\nnlu: []\n"),
    ("POST", "/model/train/", b"version: '3.1'\nnlu: []\n"),
    ("POST", "//model/train", b"version: '3.1'\nnlu: []\n"),
    ("POST", "/model/test/stories", b"version: '3.1'\nstories: []\n"),
    ("POST", "/model/test/intents", b"version: '3.1'\nnlu: []\n"),
    ("POST", "/model/predict", []),
    ("POST", "/model/parse", {"text": "hello"}),
]


def test_the_model_api_is_closed_even_with_the_token(live, kb, tmp_path):
    before = json.loads(api(live, "/status")[2])
    archive = _harmless_archive(tmp_path)
    for method, path, body in CLOSED:
        payload = {"model_file": str(archive)} if body == "archive" else body
        status, _, answer = api(live, path, method, payload)
        assert status in (403, 404, 405), (method, path, status, answer[:300])

    # The running model is the one the assistant started with, and it still answers.
    after = json.loads(api(live, "/status")[2])
    assert (after["model_file"], after["model_id"]) == (before["model_file"], before["model_id"])
    assert after["num_active_training_jobs"] == 0
    replies = rest_say(live, f"sec-model-{time.time_ns()}", "can I take ibuprofen after the treatment?")
    assert kb.get("aftercare_nsaids").answer in replies
    log = (Path(live.log_dir) / "rasa.log").read_text(errors="replace")
    assert "model route(s) closed" in log and "refused PUT /model" in log


def test_every_way_of_starting_rasa_closes_the_model_api():
    """credentials.yml (make run), the production credentials and the deploy commands."""
    for name in ("credentials.yml", "deploy/credentials.production.yml"):
        text = (paths.ROOT / name).read_text()
        assert "\nbot.rasa_ext.safety.api_hardening.ApiHardening:" in text, name
    for name in ("deploy/docker-compose.yml", "deploy/k8s/assistant.yaml"):
        text = (paths.ROOT / name).read_text()
        assert '"-m", "bot.serve.rasa_cli", "run"' in text and '"-m", "rasa", "run"' not in text, name


def test_the_launcher_module_closes_the_model_api_without_the_channel(tmp_path):
    """`python -m bot.serve.rasa_cli run` with Rasa's stock credentials (no hardening channel)."""
    (tmp_path / "credentials.yml").write_text("rest:\n")
    (tmp_path / "endpoints.yml").write_text("action_endpoint:\n  url: http://127.0.0.1:9/webhook\n")
    port, token = free_port(), "launcher-module-token"
    log = open(tmp_path / "rasa.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "bot.serve.rasa_cli", "run", "--model", str(verified_model()),
                             "--credentials", str(tmp_path / "credentials.yml"),
                             "--endpoints", str(tmp_path / "endpoints.yml"), "-i", "127.0.0.1", "-p", str(port),
                             "--enable-api", "--auth-token", token],
                            cwd=paths.ROOT, env=project_env(), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/", 180, proc)
        deadline = time.monotonic() + 120
        while http("GET", f"{base}/status?token={token}")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert http("GET", f"{base}/status?token={token}")[0] == 200
        assert http("PUT", f"{base}/model?token={token}", {"model_file": str(verified_model())})[0] == 403
        assert http("DELETE", f"{base}/model?token={token}")[0] == 403
        assert http("POST", f"{base}/model/train?token={token}", b"nlu: []\n")[0] == 403
        assert http("GET", f"{base}/status?token={token}")[0] == 200  # still loaded
    finally:
        stop(proc)
        log.close()
