"""Accounts: the add-user command, argon2id hashes, slow-down after failures; sessions expire."""
import datetime as dt
import subprocess
import sys

import pytest
from sqlalchemy import select

from bot.config import paths
from bot.console import accounts, sessions
from bot.serve.processes import project_env
from bot.storage.db import transaction, upgrade
from bot.storage.models import StaffUser, utcnow


@pytest.fixture
def url(tmp_path):
    u = f"sqlite:///{tmp_path / 'a.db'}"
    upgrade(u)
    return u


def add_user(url, name, password, *extra):
    return subprocess.run([sys.executable, "-m", "bot.console.staff", "add-user", name, "--password-stdin", *extra],
                          input=password + "\n", text=True, capture_output=True, cwd=paths.ROOT,
                          env=project_env(DATABASE_URL=url))


def test_add_user_command_stores_an_argon2id_hash(url):
    result = add_user(url, "maria", "a-long-enough-password", "--role", "admin")
    assert result.returncode == 0 and "created admin 'maria'" in result.stdout
    with transaction(url) as s:
        user = s.scalars(select(StaffUser)).one()
    assert user.password_hash.startswith("$argon2id$") and "a-long-enough-password" not in user.password_hash


def test_add_user_refuses_short_passwords_and_duplicates(url):
    short = add_user(url, "maria", "short")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    assert add_user(url, "maria", "a-long-enough-password").returncode == 0
    again = add_user(url, "maria", "another-long-password")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_authenticate_and_slow_down_after_failures(url):
    accounts.create_user(url, "joe", "a-long-enough-password")
    staff, problem = accounts.authenticate(url, "joe", "a-long-enough-password")
    assert staff.username == "joe" and problem is None
    assert accounts.authenticate(url, "nobody", "whatever-password") == (None, "unknown")
    now = utcnow()
    for _ in range(accounts.FREE_ATTEMPTS):
        assert accounts.authenticate(url, "joe", "wrong-password", now=now) == (None, "invalid")
    # Locked now, even with the right password, until the delay has passed.
    assert accounts.authenticate(url, "joe", "a-long-enough-password", now=now) == (None, "locked")
    later = now + accounts.MAX_LOCK + dt.timedelta(seconds=1)
    assert accounts.authenticate(url, "joe", "a-long-enough-password", now=later)[0] is not None


def test_lock_grows_and_is_capped():
    assert accounts.lock_for(4) == dt.timedelta(0)
    assert accounts.lock_for(5) < accounts.lock_for(6) < accounts.lock_for(7)
    assert accounts.lock_for(100) == accounts.MAX_LOCK


def test_sessions_expire_when_idle_and_after_the_maximum(url):
    staff = accounts.create_user(url, "ann", "a-long-enough-password")
    token = sessions.start(url, staff)
    now = utcnow()
    found = sessions.resolve(url, token, now=now)
    assert found[0] == staff and found[1]
    assert sessions.resolve(url, token, now=now + sessions.idle_limit() + dt.timedelta(minutes=1)) is None
    assert sessions.resolve(url, token, now=now) is None  # ended for good
    token = sessions.start(url, staff)
    t = utcnow()
    while t < now + sessions.absolute_limit():  # active all along, but too long in all
        t += dt.timedelta(minutes=20)
        result = sessions.resolve(url, token, now=t)
    assert result is None


def test_deactivated_users_lose_their_sessions(url):
    staff = accounts.create_user(url, "bob", "a-long-enough-password")
    token = sessions.start(url, staff)
    accounts.set_active(url, staff.id, False)
    assert sessions.resolve(url, token) is None
    assert accounts.authenticate(url, "bob", "a-long-enough-password") == (None, "invalid")
