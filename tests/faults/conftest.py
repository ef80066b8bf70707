"""A Rasa server, the real action server behind a FaultProxy, and a PostgreSQL server of
their own, so these tests can take each part down without disturbing other tests."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import paths
from bot.model import verified_model
from bot.serve.processes import action_server, free_port, project_env, stop, wait_http
from bot.storage.db import dispose_all, upgrade
from tests.faults.proxy import FaultProxy

API_TOKEN = "faults-api-token"


@dataclass
class Postgres:
    dir: str
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _script(self, *args):
        subprocess.run([str(paths.ROOT / "scripts" / "postgres.sh"), *args], check=True, capture_output=True)

    def start(self):
        self._script("start", f"{self.dir}/pg", str(self.port))

    def stop(self):
        self._script("stop", f"{self.dir}/pg")


@dataclass
class Stack:
    rasa_url: str
    database_url: str
    spool_dir: Path
    log: Path
    proxy: FaultProxy
    postgres: Postgres
    proc: subprocess.Popen

    def ready(self):
        try:
            with urllib.request.urlopen(f"{self.rasa_url}/webhooks/health/ready", timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.ready()
            if status == 200:
                return body
            time.sleep(0.5)
        raise AssertionError(f"not ready after {timeout}s: {body}")

    def events(self, conversation):
        """[(type, data)] of the conversation's stored events, in order, read from the database."""
        import json

        import sqlalchemy as sa

        engine = sa.create_engine(self.database_url)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT type_name, data FROM events WHERE sender_id = :s ORDER BY id"),
                                {"s": conversation}).all()
        engine.dispose()
        return [(t, json.loads(d)) for t, d in rows]

    def user_texts(self, conversation):
        return [d.get("text") for t, d in self.events(conversation) if t == "user"]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    work = tempfile.mkdtemp(prefix="clinic-faults-", dir="/tmp")
    os.chmod(work, 0o755)  # the server runs as the postgres user
    pg = Postgres(work, free_port())
    pg.start()
    url = pg.url
    upgrade(url)
    tmp = tmp_path_factory.mktemp("faults")
    spool = tmp / "spool"
    env_extra = {"SPOOL_DIR": str(spool)}
    with action_server(url, log_path=tmp / "actions.log", extra_env=env_extra) as action_url:
        proxy = FaultProxy(free_port(), action_url.rsplit("/webhook", 1)[0])
        port = free_port()
        env = project_env(DATABASE_URL=url, ACTION_ENDPOINT_URL=proxy.url, SANIC_HOST="127.0.0.1",
                          ACTION_TIMEOUT_SECONDS="3", WEBCHAT_SECRET="faults-webchat-secret-0123456789abcdef",
                          RASA_API_TOKEN=API_TOKEN, RATE_LIMIT_PER_MINUTE="6", RATE_LIMIT_BURST="4",
                          **env_extra)
        log = tmp / "rasa.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot.serve.rasa_cli", "run", "--model", str(verified_model()), "--endpoints", "endpoints.yml",
                 "--credentials", "credentials.yml", "-i", "127.0.0.1", "-p", str(port),
                 "--enable-api", "--auth-token", API_TOKEN],
                cwd=paths.ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_http(f"http://127.0.0.1:{port}/", 300, proc)
            yield Stack(f"http://127.0.0.1:{port}", url, spool, log, proxy, pg, proc)
        finally:
            stop(proc)
            proxy.close()
    dispose_all(url)
    pg.stop()
    shutil.rmtree(work, ignore_errors=True)
