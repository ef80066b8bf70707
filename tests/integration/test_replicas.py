"""Two Rasa replicas, one PostgreSQL tracker store, the atomic Redis lock store: messages of
the same conversations alternate between replicas (and arrive at both at once), and every
conversation's events stay complete and in order, with one escalation each. The same for
one Rasa server with two worker processes as `make run` starts it (SANIC_WORKERS=2, SQLite,
the lock-file store), each message on a new connection so that both workers take turns of
one conversation."""
import asyncio
import json
import os
import subprocess
import sys

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from bot.config import paths
from bot.serve.processes import action_server, children, free_port, project_env, stop, wait_http
from bot.storage.db import transaction
from bot.storage.models import Escalation
from tests.integration.conftest import fresh_postgres_database

pytestmark = pytest.mark.slow
CONVERSATIONS = 6


@pytest.fixture
def replicas(postgres_server, redis_server, tmp_path):
    from bot.model import verified_model

    url = fresh_postgres_database(postgres_server)
    from bot.storage.db import upgrade

    upgrade(url)
    (tmp_path / "credentials.yml").write_text("rest:\n")
    with action_server(url, log_path=tmp_path / "actions.log") as action_url:
        env = project_env(DATABASE_URL=url, ACTION_ENDPOINT_URL=action_url, REDIS_URL=redis_server)
        procs, urls = [], []
        for i in range(2):
            port = free_port()
            log = open(tmp_path / f"rasa-{i}.log", "wb")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "bot.serve.rasa_cli", "run", "--model", str(verified_model()),
                 "--endpoints", "deploy/endpoints.replicas.yml", "--credentials", str(tmp_path / "credentials.yml"),
                 "-i", "127.0.0.1", "-p", str(port)], cwd=paths.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
            urls.append(f"http://127.0.0.1:{port}")
        try:
            for proc, u in zip(procs, urls):
                wait_http(f"{u}/", 300, proc)
            yield url, urls
        finally:
            for proc in procs:
                stop(proc)


def _cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def workers(tmp_path):
    from bot.model import verified_model
    from bot.storage.db import upgrade

    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    upgrade(url)
    (tmp_path / "credentials.yml").write_text("rest:\n")
    with action_server(url, log_path=tmp_path / "actions.log") as action_url:
        env = project_env(DATABASE_URL=url, ACTION_ENDPOINT_URL=action_url, SANIC_WORKERS="2",
                          CONVERSATION_LOCK_FILE=str(tmp_path / "locks"), SPOOL_DIR=str(tmp_path / "spool"))
        port = free_port()
        log = open(tmp_path / "rasa.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.serve.rasa_cli", "run", "--model", str(verified_model()),
             "--endpoints", "endpoints.yml", "--credentials", str(tmp_path / "credentials.yml"),
             "-i", "127.0.0.1", "-p", str(port)], cwd=paths.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"http://127.0.0.1:{port}/", 300, proc)
            yield url, [f"http://127.0.0.1:{port}"] * 2, proc
        finally:
            stop(proc)


async def send(client, replica, sender, message):
    resp = await client.post(f"{replica}/webhooks/rest/webhook", json={"sender": sender, "message": message})
    assert resp.status_code == 200
    return resp.json()


async def conversation(client, urls, sender):
    sent = []
    for i, message in enumerate(["hello", "can I take ibuprofen after the treatment?", "for how long?"]):
        await send(client, urls[i % 2], sender, message)  # alternate replicas, one after another
        sent.append(message)
    pair = ["had my injections yesterday and now I have a fever", "and there is pus coming out of the spots"]
    await asyncio.gather(send(client, urls[0], sender, pair[0]), send(client, urls[1], sender, pair[1]))
    return sent + pair


def test_interleaved_conversations_stay_complete_and_in_order(replicas):
    url, urls = replicas

    async def main():
        async with httpx.AsyncClient(timeout=120) as client:
            return await asyncio.gather(*(conversation(client, urls, f"replica-{i}") for i in range(CONVERSATIONS)))

    check_complete_and_in_order(url, asyncio.run(main()))


def test_two_workers_of_one_server_keep_conversations_complete_and_in_order(workers):
    url, urls, proc = workers
    pids = children(proc.pid)
    assert len(pids) == 2
    before = [_cpu_seconds(p) for p in pids]

    async def main():
        # A new connection per message: the kernel picks a worker for each.
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            return await asyncio.gather(*(conversation(client, urls, f"replica-{i}") for i in range(CONVERSATIONS)))

    check_complete_and_in_order(url, asyncio.run(main()))
    # Both workers handled turns (each message costs a worker tens of milliseconds of CPU).
    assert all(_cpu_seconds(p) - b > 0.2 for p, b in zip(pids, before))


def check_complete_and_in_order(url, all_sent):
    engine = create_engine(url)
    with engine.connect() as conn:
        for i, sent in enumerate(all_sent):
            rows = conn.execute(text("SELECT type_name, data FROM events WHERE sender_id = :s ORDER BY id"),
                                {"s": f"replica-{i}"}).all()
            events = [(t, json.loads(d)) for t, d in rows]
            users = [d["text"] for t, d in events if t == "user"]
            # Every message exactly once, the sequential ones in order, the simultaneous pair in either order.
            assert users[:3] == sent[:3] and sorted(users[3:]) == sorted(sent[3:]) and len(users) == 5
            # No turn interleaved with another: after each user message the bot finishes (listens)
            # before the next user message is logged.
            kinds = [t if t != "action" else d.get("name") for t, d in events]
            for j, k in enumerate(kinds):
                if k == "user" and j > 0:
                    previous = [x for x in kinds[:j] if x in ("user", "action_listen")]
                    assert previous[-1] == "action_listen", kinds
    engine.dispose()
    with transaction(url) as s:
        rows = list(s.scalars(select(Escalation)))
    per_conversation = {}
    for r in rows:
        per_conversation.setdefault(r.conversation_id, []).append(r)
    assert len(per_conversation) == CONVERSATIONS
    assert all(len(v) == 1 and v[0].level == "urgent" for v in per_conversation.values())
