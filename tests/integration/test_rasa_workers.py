"""Sanic's multi-worker mode as the Rasa server runs it (bot/rasa_ext/speed/sanic_workers.py), on a small real
Sanic app: connections that arrive together are spread over the workers, the workers do not
outlive a killed parent (even one killed while they load), and a port in use is refused."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from bot.config import paths
from bot.serve.processes import children, free_port, wait_http

APP = """
import os, sys, time
from sanic import Sanic, response
from bot.rasa_ext import registry
from bot.rasa_ext.speed import sanic_workers
if sys.argv[2] == "install":
    registry.apply_named(["speed.socket_per_worker", "speed.parent_binds_only"])
app = Sanic("workers_test")
@app.before_server_start
async def load(app, loop):
    time.sleep(float(sys.argv[3]))  # as Rasa loads its model
@app.get("/")
async def pid(request):
    return response.text(str(os.getpid()))
app.run(host="127.0.0.1", port=int(sys.argv[1]), workers=2, access_log=False)
"""


@pytest.fixture
def server():
    started = []

    def start(mode, port=None, loading=0.0, wait=True):
        port = port or free_port()
        proc = subprocess.Popen([sys.executable, "-c", APP, str(port), mode, str(loading)], cwd=paths.ROOT,
                                env={**os.environ, "PYTHONPATH": str(paths.ROOT)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(proc)
        if wait:
            wait_http(f"http://127.0.0.1:{port}/", 60, proc)
            time.sleep(0.5)  # both workers listening
        return proc, port

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(15)




def _pids_of_connections_made_together(proc, port, n=20):
    """Open n connections while one worker is stopped (as if busy), then let it go and ask
    each connection which process answers it."""
    workers = children(proc.pid)
    os.kill(workers[1], signal.SIGSTOP)
    try:
        conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(n)]
        time.sleep(0.3)  # the running worker has taken whatever it can
    finally:
        os.kill(workers[1], signal.SIGCONT)
    pids = []
    for s in conns:
        with s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            pids.append(int(data.split(b"\r\n\r\n", 1)[1]))
    return workers, pids


def test_connections_arriving_together_reach_both_workers(server):
    # With one listening socket shared by the workers, the worker that is awake accepts every
    # waiting connection (asyncio takes up to 100 per wake-up) and the other gets none: the
    # benchmark's ten conversations all landed on one worker. Each worker's own socket gets
    # its share from the kernel.
    proc, port = server("install")
    workers, pids = _pids_of_connections_made_together(proc, port)
    assert len(workers) == 2 and set(pids) == set(workers)


def _alive(pids):
    return [p for p in pids if os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z"]


def _parent_killed_then_nothing_left(proc, port, workers):
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _alive(workers):
        time.sleep(0.2)
    assert _alive(workers) == []
    with pytest.raises(OSError):  # nobody answers on the port any more
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_workers_end_when_the_parent_is_killed(server):
    proc, port = server("install")
    workers = children(proc.pid)
    assert len(workers) == 2
    _parent_killed_then_nothing_left(proc, port, workers)


def test_workers_end_when_the_parent_is_killed_while_they_load(server):
    proc, port = server("install", loading=4, wait=False)
    deadline = time.monotonic() + 20
    while len(children(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = children(proc.pid)
    assert len(workers) == 2
    time.sleep(1)  # inside the (Rasa: model) loading, before Sanic's own signal handlers
    _parent_killed_then_nothing_left(proc, port, workers)
    time.sleep(4)  # past the end of loading: still nobody
    assert _alive(workers) == []


def test_a_second_server_on_a_port_in_use_does_not_start(server):
    first, port = server("install")
    second, _ = server("install", port=port, wait=False)
    assert second.wait(30) != 0
    workers = children(first.pid)
    pids = {int(_get(port)) for _ in range(20)}
    assert pids <= set(workers)  # every request answered by the first server's workers


def _get(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1]
