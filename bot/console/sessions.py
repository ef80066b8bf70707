"""Console sessions: a random token in a secure, HTTP-only cookie; only its hash is stored.
Sessions end after CONSOLE_IDLE_MINUTES without use and CONSOLE_MAX_HOURS in all. Each has a
CSRF token that every form must send back."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
from typing import Optional, Tuple

from sqlalchemy import select

from bot.console.accounts import Staff
from bot.storage.db import transaction
from bot.storage.models import StaffSession, StaffUser, utcnow

COOKIE = "console_session"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def idle_limit() -> dt.timedelta:
    return dt.timedelta(minutes=float(os.environ.get("CONSOLE_IDLE_MINUTES", "30")))


def absolute_limit() -> dt.timedelta:
    return dt.timedelta(hours=float(os.environ.get("CONSOLE_MAX_HOURS", "8")))


def start(url: str, staff: Staff) -> str:
    token = secrets.token_urlsafe(32)
    with transaction(url) as s:
        s.add(StaffSession(token_hash=_hash(token), user_id=staff.id, csrf_token=secrets.token_urlsafe(32)))
    return token


def resolve(url: str, token: Optional[str], now: Optional[dt.datetime] = None,
            touch: bool = True) -> Optional[Tuple[Staff, str]]:
    """The signed-in staff member and the session's CSRF token, or None (expired sessions
    are ended here)."""
    if not token or len(token) > 128:
        return None
    now = now or utcnow()
    with transaction(url) as s:
        row = s.scalars(select(StaffSession).where(StaffSession.token_hash == _hash(token))).first()
        if row is None or row.ended_at is not None:
            return None
        if now - row.last_seen_at > idle_limit() or now - row.created_at > absolute_limit():
            row.ended_at = now
            return None
        user = s.get(StaffUser, row.user_id)
        if user is None or not user.active:
            row.ended_at = now
            return None
        if touch:  # background polling is not use: it must not keep an unattended session alive
            row.last_seen_at = now
        return Staff(user.id, user.username, user.role), row.csrf_token


def end(url: str, token: Optional[str]) -> None:
    if not token:
        return
    with transaction(url) as s:
        row = s.scalars(select(StaffSession).where(StaffSession.token_hash == _hash(token))).first()
        if row is not None and row.ended_at is None:
            row.ended_at = utcnow()


def csrf_ok(expected: Optional[str], given) -> bool:
    if not isinstance(expected, str) or not isinstance(given, str) or not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
