"""The atomic Redis lock store on a real Redis server: one holder at a time, only the holder
releases, and a crashed holder's lock expires."""
import asyncio

import pytest
from rasa.core.lock_store import LockError

from bot.storage.lock_store import AtomicRedisLockStore


def test_only_one_holder_at_a_time(redis_server):
    async def main():
        store = AtomicRedisLockStore(url=redis_server, key_prefix="t1:")
        inside, overlaps = [0], [0]

        async def turn():
            async with store.lock("conv", lock_lifetime=10, wait_time_in_seconds=0.01):
                inside[0] += 1
                if inside[0] > 1:
                    overlaps[0] += 1
                await asyncio.sleep(0.01)
                inside[0] -= 1

        await asyncio.gather(*(turn() for _ in range(30)))
        return overlaps[0]

    assert asyncio.run(main()) == 0


def test_two_stores_like_two_replicas_exclude_each_other(redis_server):
    async def main():
        a, b = (AtomicRedisLockStore(url=redis_server, key_prefix="t2:") for _ in range(2))
        order = []

        async def hold(store, name):
            async with store.lock("conv", lock_lifetime=10, wait_time_in_seconds=0.01):
                order.append(f"{name}-in")
                await asyncio.sleep(0.2)
                order.append(f"{name}-out")

        await asyncio.gather(hold(a, "a"), hold(b, "b"))
        return order

    order = asyncio.run(main())
    assert order in (["a-in", "a-out", "b-in", "b-out"], ["b-in", "b-out", "a-in", "a-out"])


def test_a_lock_left_by_a_crashed_holder_expires(redis_server):
    import redis

    redis.Redis.from_url(redis_server).set("t3:conv", "someone-else", px=300)

    async def main():
        store = AtomicRedisLockStore(url=redis_server, key_prefix="t3:")
        async with store.lock("conv", lock_lifetime=5, wait_time_in_seconds=0.05):
            return True

    assert asyncio.run(main())


def test_waiting_too_long_raises(redis_server):
    import redis

    redis.Redis.from_url(redis_server).set("t4:conv", "someone-else", px=10_000)

    async def main():
        store = AtomicRedisLockStore(url=redis_server, key_prefix="t4:")
        async with store.lock("conv", lock_lifetime=0.3, wait_time_in_seconds=0.05):
            pass

    with pytest.raises(LockError):
        asyncio.run(main())
