"""Readiness of the Rasa server, and the task that replays what an outage spooled.

GET /webhooks/health/ready: 200 when the database answers and nothing is waiting to be
replayed, 503 otherwise (a load balancer or Kubernetes stops sending new conversations to a
replica that cannot read them). The body says what is wrong, without any patient data.
Rasa's own GET / stays the liveness check.

The database is asked at most once per READY_CHECK_SECONDS (default 1) however often the route
is hit: requests in between share the latest answer (`checked_at` says when it was taken),
so a flood of readiness probes cannot take the database's connections from patients.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sqlalchemy import text

from bot.resilience import replay
from bot.config.settings import Settings
from bot.storage.db import get_engine

logger = logging.getLogger(__name__)
CHECK_TIMEOUT = 5.0
READY_CHECK_SECONDS = 1.0


def database_answers(url: str) -> bool:
    try:
        with get_engine(url).connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False


class SharedCheck:
    """One database check at a time, its answer reused for `ttl` seconds."""

    def __init__(self, check: Callable[[], bool], ttl: float = READY_CHECK_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.check, self.ttl, self.clock = check, ttl, clock
        self._lock: Optional[asyncio.Lock] = None
        self._answer: Optional[bool] = None
        self._at = float("-inf")
        self.checked_at = 0.0  # wall time of the answer, for the response body

    async def database_ok(self) -> bool:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # waiters then find the fresh answer and do not ask again
            if self._answer is not None and self.clock() - self._at < self.ttl:
                return self._answer
            loop = asyncio.get_running_loop()
            try:
                answer = await asyncio.wait_for(loop.run_in_executor(None, self.check), CHECK_TIMEOUT)
            except asyncio.TimeoutError:
                answer = False
            self._answer, self._at, self.checked_at = answer, self.clock(), time.time()
            return answer


class HealthInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "health"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "HealthInput":
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("health", url_prefix="/webhooks/health")

        url = Settings.from_env().database_url
        shared = SharedCheck(lambda: database_answers(url))

        @bp.route("/ready", methods=["GET"])
        async def ready(_: Request):
            db_ok = await shared.database_ok()
            waiting = replay.pending()
            body = {"database": "ok" if db_ok else "unavailable", "spooled": waiting,
                    "checked_at": round(shared.checked_at, 3)}
            # Items set aside ("dead-...") need a person, not a replay: reported, not blocking.
            ready = db_ok and not any(n for k, n in waiting.items() if not k.startswith("dead-"))
            return response.json({"ready": ready, **body}, status=200 if ready else 503)

        @bp.listener("after_server_start")
        async def start_replay(app, loop):  # noqa: ANN001
            agent = getattr(app.ctx, "agent", None)
            if agent is None:
                logger.error("no agent: spooled messages will not be replayed by this server")
                return
            app.ctx.replay_task = loop.create_task(replay.run_forever(agent))

        @bp.listener("before_server_stop")
        async def stop_replay(app, loop):  # noqa: ANN001
            task = getattr(app.ctx, "replay_task", None)
            if task is not None:
                task.cancel()

        @bp.listener("after_server_stop")
        async def close_action_server_connections(app, loop):  # noqa: ANN001
            from bot import rasa_ext

            await rasa_ext.close_connections()

        return bp
