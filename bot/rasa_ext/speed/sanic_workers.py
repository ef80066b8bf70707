"""Several Sanic workers for one Rasa server, each listening on its own socket.

Rasa handles messages on one Python event loop, so one process uses one core however many
the machine has; `SANIC_WORKERS=N` runs N processes (each loads the model, and a lock store
shared between processes is needed: `bot.storage.lock_store.LocalLockStore` in endpoints.yml).

Sanic 21.12's workers share the parent's listening socket, and asyncio accepts up to 100
waiting connections per wake-up, so connections that arrive together (ten patients opening
the chat at the same moment) all go to whichever worker wakes first, and the other worker
idles. With these replacements, each worker listens on its own SO_REUSEPORT socket for the same
address and the kernel spreads new connections over them. The parent first checks that the
port is free with a plain bind (so a second server on the port fails at start, as stock
Sanic does, instead of silently sharing its traffic), then keeps the address bound but never
listens on it.

Each worker also asks the kernel for SIGTERM when the parent dies: Sanic's workers would
otherwise outlive a killed parent, keep the port, and answer beside its restarted successor.
Until Sanic installs its own handler (after Rasa has loaded the model) a worker still has the
parent's SIGTERM handler, which only signals the parent's list of workers: the default
action is restored first, so a worker told to end during start-up ends.

A conversation's messages may reach different workers (a new connection can hash to the
other one); that is correct, only slower: the lock store serialises the turns and the tracker
store re-reads a session another process wrote (bot/storage/tracker_store.py).
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket

from sanic.server import runners

from bot.rasa_ext.registry import SPEED, replace

_PR_SET_PDEATHSIG = 1


def _end_with_parent(parent: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the worker outlives a killed parent
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _reuse_port_socket(family: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def _bound_not_listening(host: str, port: int, *, backlog: int = 100) -> socket.socket:
    """Stands in for sanic's bind_socket in the parent process: reserves the address only."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:  # EADDRINUSE if anyone listens
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        if port == 0:
            port = probe.getsockname()[1]
    sock = _reuse_port_socket(family)
    sock.bind((host, port))
    return sock


_parent = os.getpid()  # the process that applies the patch: the server's parent
_original_serve = runners.serve
_original_bind_socket = runners.bind_socket


def _serve_on_own_socket(**settings):
    inherited = settings.get("sock")
    if settings.get("run_multiple"):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler
        _end_with_parent(_parent)
        if inherited is not None and inherited.family in (socket.AF_INET, socket.AF_INET6):
            own = _reuse_port_socket(inherited.family)
            own.bind(inherited.getsockname())
            own.listen(settings.get("backlog") or 100)
            inherited.close()
            settings["sock"] = own
    return _original_serve(**settings)


# serve_multiple looks both names up in the module when it runs, after this.
replace(runners, "serve", _serve_on_own_socket, name="speed.socket_per_worker", kind=SPEED, library="sanic",
        why="with SANIC_WORKERS > 1 each worker listens on its own SO_REUSEPORT socket, so the "
            "kernel spreads connections (the shared socket sent a burst to one worker), and ends "
            "with its parent")
replace(runners, "bind_socket", _bound_not_listening, name="speed.parent_binds_only", kind=SPEED,
        library="sanic",
        why="the parent reserves the address (a second server on the port still fails at start) "
            "but never listens on it: the workers' own sockets take every connection")
