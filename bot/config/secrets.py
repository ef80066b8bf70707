"""Secrets come from the environment, or (outside production) from a file under var/, which
is outside git. In production (CLINIC_ENV=production) a missing, empty or short secret stops
the start-up: no default secret exists in the code."""
from __future__ import annotations

import os
import secrets as _secrets
from pathlib import Path

from bot.config import paths

MIN_LENGTH = 32
# The header the Rasa server sends ACTION_SERVER_TOKEN in (endpoints.yml), checked by the action
# server (bot/rasa_ext/safety/action_webhook.py).
ACTION_TOKEN_HEADER = "X-Action-Token"


class SecretError(RuntimeError):
    pass


def production() -> bool:
    return os.environ.get("CLINIC_ENV", "development").lower() == "production"


def _checked(name: str, value: str) -> str:
    if production() and len(value) < MIN_LENGTH:
        raise SecretError(f"{name} is shorter than {MIN_LENGTH} characters; refusing to start in production")
    return value


def optional_secret(name: str) -> str:
    """A secret that turns an optional part on (e.g. TELEGRAM_WEBHOOK_SECRET for the Telegram
    channel): unset gives "", but one that is set must be as long as any other in production,
    since a short one is as guessable whatever it guards."""
    value = os.environ.get(name, "")
    return _checked(name, value) if value else ""


def get_secret(name: str) -> str:
    value = os.environ.get(name, "")
    if value:
        return _checked(name, value)
    if production():
        raise SecretError(f"{name} is not set; refusing to start in production without it")
    # Development: a random secret kept in var/ so sessions survive a restart of `make run`.
    path = paths.ROOT / "var" / "secrets" / name.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written to a private temporary file, then renamed into place: another process never
        # reads a half-written (empty) secret, and the first writer wins.
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(_secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    value = Path(path).read_text().strip()
    if len(value) < MIN_LENGTH:
        raise SecretError(f"{path} holds no usable secret; delete it to have a new one made")
    return value
