"""The readiness route's database check is shared: a flood of probes asks the database once per
period, not once per probe."""
import asyncio
import threading

from bot.channels.health import SharedCheck


def test_concurrent_probes_share_one_database_check():
    calls, gate = [], threading.Event()

    def check():
        calls.append(1)
        gate.wait(30)  # a slow database: every probe arrives while the first check runs
        return True

    now = [0.0]
    shared = SharedCheck(check, ttl=1.0, clock=lambda: now[0])

    async def flood():
        probes = [asyncio.ensure_future(shared.database_ok()) for _ in range(200)]
        while not calls:
            await asyncio.sleep(0.01)
        gate.set()
        return await asyncio.gather(*probes)

    assert asyncio.run(flood()) == [True] * 200
    assert len(calls) == 1
    # Within the period the answer is reused; after it, the database is asked again.
    assert asyncio.run(shared.database_ok()) and len(calls) == 1
    now[0] = 1.5
    assert asyncio.run(shared.database_ok()) and len(calls) == 2


def test_a_failing_check_is_shared_too_and_retried_after_the_period():
    calls = []

    def down():
        calls.append(1)
        return False

    now = [0.0]
    shared = SharedCheck(down, ttl=1.0, clock=lambda: now[0])

    async def probes():
        return await asyncio.gather(*(shared.database_ok() for _ in range(50)))

    assert asyncio.run(probes()) == [False] * 50 and len(calls) == 1
    now[0] = 2.0
    assert asyncio.run(shared.database_ok()) is False and len(calls) == 2
