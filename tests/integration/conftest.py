"""Real databases for integration tests: a SQLite file, and a PostgreSQL server that
scripts/postgres.sh installs (if needed) and starts on loopback for the session."""
import os
import shutil
import subprocess
import tempfile
import uuid

import pytest
import sqlalchemy as sa

from bot.config import paths
from bot.serve.processes import free_port
from bot.storage.db import dispose_all, upgrade


@pytest.fixture(scope="session")
def postgres_server():
    # Not under pytest's tmp dir: the server runs as the postgres user, who cannot enter it.
    work = tempfile.mkdtemp(prefix="clinic-pg-", dir="/tmp")
    os.chmod(work, 0o755)
    script = str(paths.ROOT / "scripts" / "postgres.sh")
    url = subprocess.run([script, "start", f"{work}/pg", str(free_port())], check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    yield url
    subprocess.run([script, "stop", f"{work}/pg"], check=False)
    shutil.rmtree(work, ignore_errors=True)


def fresh_postgres_database(server_url: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty database at the current schema, on each engine we support."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'clinic.db'}"
    else:
        url = fresh_postgres_database(request.getfixturevalue("postgres_server"))
    upgrade(url)
    yield url
    dispose_all(url)


@pytest.fixture(scope="session")
def redis_server():
    work = tempfile.mkdtemp(prefix="clinic-redis-", dir="/tmp")
    script = str(paths.ROOT / "scripts" / "redis.sh")
    url = subprocess.run([script, "start", work, str(free_port())], check=True, capture_output=True,
                         text=True).stdout.strip().splitlines()[-1]
    yield url
    subprocess.run([script, "stop", work], check=False)
    shutil.rmtree(work, ignore_errors=True)
