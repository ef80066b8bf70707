"""The lock store for the Rasa server's worker processes on one machine: one holder per
conversation across real processes and within one, other conversations untouched, and a
killed holder's lock gone at once."""
import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
from rasa.core.lock_store import LockError

from bot.config import paths
from bot.storage.lock_store import LocalLockStore

# A second process that takes a conversation's lock, says so, and holds it as told.
HOLDER = """
import asyncio, sys, time
from bot.storage.lock_store import LocalLockStore
path, conversation, hold, log = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
async def main():
    async with LocalLockStore(path=path).lock(conversation):
        open(log, "a").write("holder-in\\n")
        print("in", flush=True)
        time.sleep(hold)  # blocking on purpose: a worker busy with the turn
        open(log, "a").write("holder-out\\n")
asyncio.run(main())
"""


def _holder(tmp_path, conversation, hold):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "locks"), conversation, str(hold),
                             str(tmp_path / "order.log")], cwd=paths.ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(paths.ROOT)})
    assert proc.stdout.readline().strip() == "in"
    return proc


def test_a_conversation_held_by_another_process_waits_for_it(tmp_path):
    holder = _holder(tmp_path, "conv-1", hold=0.8)
    store = LocalLockStore(path=str(tmp_path / "locks"))

    async def take():
        async with store.lock("conv-1", lock_lifetime=10):
            (tmp_path / "order.log").open("a").write("we-in\n")

    asyncio.run(take())
    holder.wait(10)
    assert (tmp_path / "order.log").read_text().split() == ["holder-in", "holder-out", "we-in"]


def test_another_conversation_is_not_held_back(tmp_path):
    holder = _holder(tmp_path, "conv-1", hold=5)
    store = LocalLockStore(path=str(tmp_path / "locks"))
    try:
        async def take():
            async with store.lock("conv-2", lock_lifetime=10):
                return (tmp_path / "order.log").read_text().split()

        # Taken while the holder is still inside its turn.
        assert asyncio.run(take()) == ["holder-in"]
    finally:
        holder.kill()
        holder.wait(10)


def test_a_killed_holder_leaves_nothing_locked(tmp_path):
    holder = _holder(tmp_path, "conv-1", hold=60)
    store = LocalLockStore(path=str(tmp_path / "locks"))

    async def take(lifetime):
        async with store.lock("conv-1", lock_lifetime=lifetime):
            return True

    with pytest.raises(LockError):
        asyncio.run(take(0.3))
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    began = time.monotonic()
    assert asyncio.run(take(10))
    assert time.monotonic() - began < 1  # no expiry to wait out


def test_turns_of_one_conversation_in_one_process_do_not_overlap(tmp_path):
    store = LocalLockStore(path=str(tmp_path / "locks"))
    inside, overlaps, peak_other = [0], [0], [0]

    async def turn():
        async with store.lock("conv", lock_lifetime=10):
            inside[0] += 1
            overlaps[0] += inside[0] > 1
            await asyncio.sleep(0.005)
            inside[0] -= 1

    async def other(name):
        async with store.lock(name, lock_lifetime=10):
            peak_other[0] = max(peak_other[0], inside[0])

    async def main():
        await asyncio.gather(*(turn() for _ in range(30)), *(other(f"o{i}") for i in range(5)))

    asyncio.run(main())
    assert overlaps[0] == 0
    assert peak_other[0] <= 1
    assert store._local == {}  # nothing kept per conversation once its turns are done


def test_the_lock_file_comes_from_the_endpoint_or_the_environment(tmp_path, monkeypatch):
    from rasa.utils.endpoints import EndpointConfig

    from_endpoint = LocalLockStore(EndpointConfig(type="bot.storage.lock_store.LocalLockStore",
                                                  path=str(tmp_path / "a" / "l")))
    assert from_endpoint.path == str(tmp_path / "a" / "l")
    monkeypatch.setenv("CONVERSATION_LOCK_FILE", str(tmp_path / "b"))
    assert LocalLockStore(EndpointConfig(path=str(tmp_path / "a" / "l"))).path == str(tmp_path / "b")


def test_two_stores_in_one_process_exclude_each_other(tmp_path):
    # Record locks belong to the process: two stores on one file must share one descriptor
    # and one set of in-process locks, or both would "hold" a conversation at once.
    a = LocalLockStore(path=str(tmp_path / "locks"))
    b = LocalLockStore(path=str(tmp_path / "sub" / ".." / "locks"))
    inside, overlaps = [0], [0]

    async def turn(store):
        async with store.lock("conv", lock_lifetime=10):
            inside[0] += 1
            overlaps[0] += inside[0] > 1
            await asyncio.sleep(0.01)
            inside[0] -= 1

    async def main():
        await asyncio.gather(*(turn(a if i % 2 else b) for i in range(20)))

    (tmp_path / "sub").mkdir()
    asyncio.run(main())
    assert overlaps[0] == 0


TRY = """
import asyncio, sys
from rasa.core.lock_store import LockError
from bot.storage.lock_store import LocalLockStore
async def main():
    try:
        async with LocalLockStore(path=sys.argv[1]).lock(sys.argv[2], lock_lifetime=0.5):
            print("got")
    except LockError:
        print("refused")
asyncio.run(main())
"""


def test_another_store_in_the_process_leaves_a_held_lock_held(tmp_path):
    store = LocalLockStore(path=str(tmp_path / "locks"))

    def other_process_tries():
        return subprocess.run([sys.executable, "-c", TRY, str(tmp_path / "locks"), "conv-1"], cwd=paths.ROOT,
                              env={**os.environ, "PYTHONPATH": str(paths.ROOT)}, capture_output=True,
                              text=True, timeout=60).stdout.strip()

    async def main():
        async with store.lock("conv-1", lock_lifetime=10):
            second = LocalLockStore(path=str(tmp_path / "locks"))  # e.g. a model reload's store
            async with second.lock("conv-2", lock_lifetime=10):
                pass
            return other_process_tries()

    assert asyncio.run(main()) == "refused"
    assert other_process_tries() == "got"
