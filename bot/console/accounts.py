"""Staff accounts: argon2id password hashes, sign-in with slow-down after failures, roles."""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import List, Optional

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.storage.db import transaction
from bot.storage.models import StaffUser, utcnow

logger = logging.getLogger(__name__)
# staff work the queue and edit the knowledge base; clinicians also sign (publish) knowledge
# entries (bot/knowledge/store.py SIGNING_ROLES); admins also manage accounts and read the audit log.
ROLES = ("staff", "clinician", "admin")
MIN_PASSWORD = 12
FREE_ATTEMPTS = 5
MAX_LOCK = dt.timedelta(minutes=15)
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verifying against a dummy hash for unknown users keeps the timing the same as for real ones.
_DUMMY_HASH = _hasher.hash("not-a-real-password-only-for-timing")


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class Staff:
    id: int
    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def hash_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def create_user(url: str, username: str, password: str, role: str = "staff") -> Staff:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if not re.fullmatch(r"[A-Za-z0-9._-]{2,64}", username or ""):
        raise AccountError("a user name has 2-64 letters, digits, dots, dashes or underscores")
    hashed = hash_password(password)
    try:
        with transaction(url) as s:
            user = StaffUser(username=username, password_hash=hashed, role=role)
            s.add(user)
            s.flush()
            return Staff(user.id, user.username, user.role)
    except IntegrityError:
        raise AccountError(f"user '{username}' already exists") from None


def lock_for(failures: int) -> dt.timedelta:
    """No delay for the first few mistakes, then doubling, up to MAX_LOCK."""
    if failures < FREE_ATTEMPTS:
        return dt.timedelta(0)
    return min(dt.timedelta(seconds=2 ** min(failures - FREE_ATTEMPTS + 1, 20)), MAX_LOCK)


def authenticate(url: str, username: str, password: str, now: Optional[dt.datetime] = None):
    """Returns (Staff, None) or (None, reason). Reasons: 'unknown' (no account has that name:
    what was typed may be a password, so it is not for the audit log), 'invalid', 'locked'."""
    now = now or utcnow()
    with transaction(url) as s:
        # Locked for the whole check: parallel guesses at one account are counted one after
        # another, instead of each reading the same count and writing it back plus one.
        user = s.scalars(select(StaffUser).where(StaffUser.username == username).with_for_update()).first()
        if user is None or not user.active:
            try:
                _hasher.verify(_DUMMY_HASH, password or "")
            except VerificationError:
                pass
            logger.warning("console sign-in failed for an unknown or inactive user")
            return None, "unknown" if user is None else "invalid"
        if user.locked_until and user.locked_until > now:
            try:  # the same work as any other attempt: the timing does not reveal the lock
                _hasher.verify(_DUMMY_HASH, password or "")
            except VerificationError:
                pass
            logger.warning("console sign-in refused: user id %s is temporarily locked", user.id)
            return None, "locked"
        try:
            _hasher.verify(user.password_hash, password or "")
        except (VerifyMismatchError, VerificationError):
            user.failed_attempts += 1
            delay = lock_for(user.failed_attempts)
            user.locked_until = now + delay if delay else None
            logger.warning("console sign-in failed for user id %s (%s in a row)", user.id, user.failed_attempts)
            return None, "invalid"
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        user.failed_attempts, user.locked_until, user.last_login_at = 0, None, now
        return Staff(user.id, user.username, user.role), None


def list_users(url: str) -> List[StaffUser]:
    with transaction(url) as s:
        return list(s.scalars(select(StaffUser).order_by(StaffUser.username)))


def set_active(url: str, user_id: int, active: bool) -> None:
    with transaction(url) as s:
        user = s.get(StaffUser, user_id)
        if user is not None:
            user.active = active
