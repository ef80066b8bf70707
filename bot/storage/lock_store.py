"""AtomicRedisLockStore: one turn per conversation at a time, across Rasa replicas.

Rasa's open-source RedisLockStore issues "tickets" with separate read and write calls, so two
replicas can both believe they hold a conversation (rasa issue 9213) and its SQL tracker
store then duplicates or skips events. This store takes the lock with one atomic Redis
command (SET key token NX PX lifetime) and releases it with a compare-and-delete script, so
only the holder can release it, and a crashed holder's lock expires.

    lock_store:
      type: bot.storage.lock_store.AtomicRedisLockStore
      url: ${REDIS_URL}          # redis://127.0.0.1:6379/0
"""
from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import asynccontextmanager
from typing import AsyncGenerator, Optional, Text

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LockError, LockStore

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


class AtomicRedisLockStore(LockStore):
    def __init__(self, endpoint_config=None, url: Optional[str] = None, key_prefix: str = "clinic:lock:") -> None:
        import redis.asyncio as aioredis

        url = url or (endpoint_config.url if endpoint_config else None) or "redis://127.0.0.1:6379/0"
        self.prefix = ((endpoint_config.kwargs.get("key_prefix") if endpoint_config else None) or key_prefix)
        self.redis = aioredis.from_url(url)
        super().__init__()

    def _key(self, conversation_id: Text) -> str:
        return f"{self.prefix}{conversation_id}"

    @asynccontextmanager
    async def lock(self, conversation_id: Text, lock_lifetime: float = 60,
                   wait_time_in_seconds: float = 0.05) -> AsyncGenerator[TicketLock, None]:
        token = uuid.uuid4().hex
        key = self._key(conversation_id)
        deadline = time.monotonic() + lock_lifetime
        while not await self.redis.set(key, token, nx=True, px=int(lock_lifetime * 1000)):
            if time.monotonic() > deadline:
                raise LockError(f"could not lock conversation within {lock_lifetime} s")
            await asyncio.sleep(wait_time_in_seconds)
        try:
            yield TicketLock(conversation_id)
        finally:
            await self.redis.eval(_RELEASE, 1, key, token)

    # The ticket interface of Rasa's base class is not used: `lock` above replaces it.
    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        return None

    def delete_lock(self, conversation_id: Text) -> None:
        return None

    def save_lock(self, lock: TicketLock) -> None:
        return None
