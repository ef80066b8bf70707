"""tests/waiting.py: a wait returns as soon as its condition holds, and a timeout says what
was awaited and what was last seen."""
import asyncio
import itertools

import pytest

from tests.waiting import async_wait_until, wait_until


def test_returns_the_first_truthy_value_without_waiting_out_the_timeout():
    calls = itertools.count()
    assert wait_until(lambda: next(calls) >= 2 and "found", "the third call", timeout=60, interval=0.01) == "found"


def test_a_timeout_names_what_was_awaited_and_the_last_value():
    with pytest.raises(AssertionError, match=r"waited 0.05s for the answer in the history; last seen: \[\]"):
        wait_until(lambda: [], "the answer in the history", timeout=0.05, interval=0.01)


def test_the_async_wait_takes_coroutines_and_lets_the_loop_run():
    async def main():
        box = []
        asyncio.get_running_loop().call_later(0.05, box.append, "done")

        async def filled():
            return box[:]

        assert await async_wait_until(filled, "the callback", timeout=60) == ["done"]
        with pytest.raises(AssertionError, match="waited 0.05s for nothing; last seen: None"):
            await async_wait_until(lambda: None, "nothing", timeout=0.05)

    asyncio.run(main())
