"""Deliver outbox rows through their notifiers, at least once, with retries.

A row is claimed by moving its next attempt into the future (a lease) in one conditional
UPDATE, so several workers never send the same row at the same time, and a worker that dies
mid-send leaves the row to be retried when the lease ends. Failures back off exponentially
up to MAX_BACKOFF; a row is never given up on (a lost alert is worse than a late one).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Dict, List

from sqlalchemy import select, update

from bot.storage.db import transaction
from bot.storage.models import OutboxMessage, utcnow

logger = logging.getLogger(__name__)
LEASE = dt.timedelta(seconds=60)
FIRST_BACKOFF = dt.timedelta(seconds=5)
MAX_BACKOFF = dt.timedelta(minutes=15)


def backoff(attempts: int) -> dt.timedelta:
    return min(FIRST_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)


class Outbox:
    def __init__(self, database_url: str, notifiers: Dict[str, object]):
        self.url = database_url
        self.notifiers = notifiers

    def _claim(self, limit: int) -> List[OutboxMessage]:
        now = utcnow()
        with transaction(self.url) as s:
            due = list(s.scalars(select(OutboxMessage)
                                 .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
                                 .order_by(OutboxMessage.id).limit(limit)))
        claimed = []
        for row in due:
            with transaction(self.url) as s:
                got = s.execute(update(OutboxMessage)
                                .where(OutboxMessage.id == row.id, OutboxMessage.status == "pending",
                                       OutboxMessage.next_attempt_at == row.next_attempt_at)
                                .values(next_attempt_at=now + LEASE)).rowcount
            if got == 1:
                claimed.append(row)
        return claimed

    async def drain(self, limit: int = 50) -> int:
        """Try every due row once; returns how many were delivered."""
        delivered = 0
        for _ in range(limit):
            # One row at a time, right before sending: a lease never runs out while the row
            # waits behind others in a batch (which could let a second worker send it too).
            claimed = self._claim(1)
            if not claimed:
                break
            row = claimed[0]
            notifier = self.notifiers.get(row.notifier)
            try:
                if notifier is None:
                    raise RuntimeError(f"notifier '{row.notifier}' is not configured")
                await notifier.send(json.loads(row.payload))
            except Exception as exc:  # noqa: BLE001 - any failure means "try again later"
                attempts = row.attempts + 1
                with transaction(self.url) as s:
                    s.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(
                        attempts=attempts, last_error=str(exc)[:500],
                        next_attempt_at=utcnow() + backoff(attempts)))
                logger.warning("outbox row %s via %s failed (attempt %s): %s",
                               row.id, row.notifier, attempts, type(exc).__name__)
                continue
            with transaction(self.url) as s:
                s.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(
                    status="delivered", delivered_at=utcnow(), attempts=row.attempts + 1))
            delivered += 1
        return delivered

    def pending(self) -> List[OutboxMessage]:
        with transaction(self.url) as s:
            return list(s.scalars(select(OutboxMessage).where(OutboxMessage.status == "pending")
                                  .order_by(OutboxMessage.id)))
