"""A real console server (uvicorn on loopback) over a real SQLite file, per test module."""
import threading
import time

import httpx
import pytest
import uvicorn

from bot.console.accounts import create_user
from bot.serve.processes import free_port
from bot.config.settings import Settings
from bot.storage.db import dispose_all, upgrade

ADMIN, STAFF, PASSWORD = "admin1", "nurse1", "correct-horse-battery-staple"


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    from bot.console.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'console.db'}"
    upgrade(url)
    create_user(url, ADMIN, PASSWORD, "admin")
    create_user(url, STAFF, PASSWORD, "staff")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(database_url=url)), host="127.0.0.1",
                                           port=port, log_level="warning", ws="none", http="h11"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield type("Console", (), {"url": url, "base": f"http://127.0.0.1:{port}"})
    server.should_exit = True
    thread.join(10)
    dispose_all(url)


def client(console):
    return httpx.Client(base_url=console.base, follow_redirects=False, timeout=30)


def csrf_from(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


def sign_in(console, username=ADMIN, password=PASSWORD) -> httpx.Client:
    c = client(console)
    token = csrf_from(c.get("/login").text)
    resp = c.post("/login", data={"csrf": token, "username": username, "password": password})
    assert resp.status_code == 303, resp.text[:300]
    return c
