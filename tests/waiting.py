"""Waiting for a condition, not for a time: a test that sleeps a fixed while and then looks
passes on a quiet machine and fails on a busy one. These poll until the condition holds, up
to a generous deadline, and then fail saying what was awaited and what was last seen."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, Optional, TypeVar, Union

T = TypeVar("T")


def _timed_out(what: str, timeout: float, last: Any) -> AssertionError:
    return AssertionError(f"waited {timeout:g}s for {what}; last seen: {last!r}")


def wait_until(predicate: Callable[[], T], what: str, timeout: float = 60.0, interval: float = 0.25) -> T:
    """The predicate's first truthy value (so it can return what it found)."""
    deadline = time.monotonic() + timeout
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise _timed_out(what, timeout, last)
        time.sleep(interval)


async def async_wait_until(predicate: Callable[[], Union[T, Awaitable[T]]], what: str, timeout: float = 60.0,
                           interval: float = 0.05) -> T:
    """`wait_until` inside an event loop (the loop keeps running while it waits); the
    predicate may be a coroutine function."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        last: Optional[Any] = predicate()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if loop.time() >= deadline:
            raise _timed_out(what, timeout, last)
        await asyncio.sleep(interval)
