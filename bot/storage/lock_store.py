"""One turn per conversation at a time, across Rasa processes.

LocalLockStore: for the Rasa server's own worker processes on one machine (`make run`,
SANIC_WORKERS), with no extra service. AtomicRedisLockStore: across replicas on several
machines.

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
import fcntl
import hashlib
import os
import threading
import time
import uuid
from contextlib import asynccontextmanager
from typing import AsyncGenerator, Dict, Optional, Text, Tuple

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LockError, LockStore

from bot.config import paths

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


class _LockOnlyStore(LockStore):
    """A store whose `lock` replaces Rasa's ticket interface, which is then never used."""

    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        return None

    def delete_lock(self, conversation_id: Text) -> None:
        return None

    def save_lock(self, lock: TicketLock) -> None:
        return None


class AtomicRedisLockStore(_LockOnlyStore):
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


_open_files: Dict[Tuple[str, int], Tuple[int, dict]] = {}
_open_lock = threading.Lock()


class LocalLockStore(_LockOnlyStore):
    """A conversation's lock is one byte of a shared lock file, taken with a POSIX record lock
    (fcntl), whose offset comes from a hash of the conversation id.

    The kernel releases a dead process's record locks, so a crashed worker never leaves a
    conversation locked, and nothing expires while its holder is still working. Record locks
    belong to a process, not to a coroutine, so within a process the byte is also guarded by
    an asyncio lock; two conversations that hash to one byte merely take turns.

        lock_store:
          type: bot.storage.lock_store.LocalLockStore
          path: var/locks/conversations.lock    # optional; also CONVERSATION_LOCK_FILE
    """

    SLOTS = 1 << 30

    def __init__(self, endpoint_config=None, path: Optional[str] = None) -> None:
        path = (path or os.environ.get("CONVERSATION_LOCK_FILE")
                or (endpoint_config.kwargs.get("path") if endpoint_config else None)
                or str(paths.ROOT / "var" / "locks" / "conversations.lock"))
        # One name per file, so every store on it finds the same descriptor below.
        self.path = os.path.realpath(path)
        super().__init__()

    def _file(self) -> Tuple[int, dict]:
        """This process's descriptor of the lock file and its in-process locks (slot ->
        [asyncio.Lock, users]), shared by every store on that file: record locks belong to
        the process, so two stores with their own descriptors would not exclude each other,
        and closing any descriptor of the file would drop all of this process's locks on it.
        Opened in the process that uses it (Sanic forks its workers) and never closed."""
        key = (self.path, os.getpid())
        opened = _open_files.get(key)
        if opened is None:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            with _open_lock:
                if key not in _open_files:
                    _open_files[key] = (os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), {})
                opened = _open_files[key]
        return opened

    @property
    def _local(self) -> dict:
        return self._file()[1]

    def slot(self, conversation_id: Text) -> int:
        return int.from_bytes(hashlib.blake2b(conversation_id.encode("utf-8", "surrogatepass"),
                                              digest_size=8).digest(), "big") % self.SLOTS

    @asynccontextmanager
    async def lock(self, conversation_id: Text, lock_lifetime: float = 60,
                   wait_time_in_seconds: float = 0.005) -> AsyncGenerator[TicketLock, None]:
        (fd, local), slot = self._file(), self.slot(conversation_id)
        entry = local.setdefault(slot, [asyncio.Lock(), 0])
        entry[1] += 1
        deadline = time.monotonic() + lock_lifetime
        try:
            try:
                await asyncio.wait_for(entry[0].acquire(), timeout=lock_lifetime)
            except asyncio.TimeoutError:
                raise LockError(f"could not lock conversation within {lock_lifetime} s") from None
            try:
                pause = wait_time_in_seconds
                while True:
                    try:
                        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, slot)
                        break
                    except (BlockingIOError, PermissionError):  # held by another process
                        if time.monotonic() > deadline:
                            raise LockError(f"could not lock conversation within {lock_lifetime} s") from None
                        await asyncio.sleep(pause)
                        pause = min(pause * 2, 0.05)
                try:
                    yield TicketLock(conversation_id)
                finally:
                    fcntl.lockf(fd, fcntl.LOCK_UN, 1, slot)
            finally:
                entry[0].release()
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                local.pop(slot, None)
