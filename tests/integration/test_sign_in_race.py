"""Parallel wrong passwords against one account each count (on PostgreSQL, where transactions
really run at once): the slow-down after failures cannot be sidestepped by guessing in bursts."""
import threading

import pytest
from sqlalchemy import select

from bot.console.accounts import authenticate, create_user
from bot.storage.db import transaction, upgrade
from bot.storage.models import StaffUser
from tests.integration.conftest import fresh_postgres_database

pytestmark = pytest.mark.slow
GUESSES = 8


def test_a_burst_of_parallel_wrong_passwords_counts_every_guess(postgres_server):
    url = fresh_postgres_database(postgres_server)
    upgrade(url)
    create_user(url, "nurse", "correct-horse-battery-staple")
    start = threading.Barrier(GUESSES)
    results = []

    def guess(i):
        start.wait()
        results.append(authenticate(url, "nurse", f"wrong-guess-{i}")[1])

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(GUESSES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == GUESSES and set(results) <= {"invalid", "locked"}
    with transaction(url) as s:
        user = s.scalars(select(StaffUser).where(StaffUser.username == "nurse")).one()
    # Every guess that was checked against the hash is counted; the ones refused as locked
    # were not checked at all.
    assert user.failed_attempts == results.count("invalid")
    assert user.failed_attempts >= 5 and user.locked_until is not None
