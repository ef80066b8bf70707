"""Engine and session factory for our tables, and schema upgrades through Alembic."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Dict, Iterator, Optional

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from bot.config import paths

_engines: Dict[str, Engine] = {}
_lock = threading.Lock()


def get_engine(url: str) -> Engine:
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create_engine(url)
            _engines[url] = engine
        return engine


def _create_engine(url: str) -> Engine:
    # hide_parameters: a failed statement's error text (which rasa_sdk and we log) would
    # otherwise end with its parameters - patient names, contacts, message texts.
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # The Rasa server and the action server write the same file: wait for the lock
        # instead of failing at once, and use WAL so readers do not block the writer.
        # SQLAlchemy 1.4 would open a new connection (and run the pragmas below) for every
        # transaction of a file database (NullPool): a fifth of the action server's time per
        # message in the profile. Pooled connections are handed to one thread at a time.
        pooled = {"poolclass": QueuePool, "pool_size": 5, "max_overflow": 10} if parsed.database not in (
            None, "", ":memory:") else {}
        engine = create_engine(url, future=True, hide_parameters=True, **pooled,
                               connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # A database that does not answer must fail a request in seconds, not hang it.
    connect_args = {"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {}
    return create_engine(url, future=True, pool_pre_ping=True, hide_parameters=True, connect_args=connect_args)


def session_factory(url: str) -> sessionmaker:
    return sessionmaker(bind=get_engine(url), future=True, expire_on_commit=False)


@contextmanager
def transaction(url: str) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = session_factory(url)()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` with Alembic (idempotent; run at every start)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(paths.ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(paths.ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, revision)


def dispose_all(url: Optional[str] = None) -> None:
    with _lock:
        for key in [url] if url else list(_engines):
            engine = _engines.pop(key, None)
            if engine is not None:
                engine.dispose()
