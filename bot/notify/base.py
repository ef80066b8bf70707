"""The notifier interface. A notifier delivers one outbox payload or raises; it never sees
patient text: payloads carry ids, level, reason and channel only."""
from __future__ import annotations

from typing import Any, Dict, Protocol


class NotifierError(RuntimeError):
    """Delivery failed; the outbox will try again later."""


class Notifier(Protocol):
    name: str

    async def send(self, payload: Dict[str, Any]) -> None: ...


def summary(payload: Dict[str, Any]) -> str:
    """One line for a human: no patient text, only what staff need to open the console."""
    what = {"new": "New", "level_raised": "Raised", "safety_net": "Safety net sent for"}.get(
        payload.get("event"), "Update to")
    return (f"{what} escalation #{payload.get('escalation_id')}: {str(payload.get('level', '')).upper()} "
            f"({payload.get('reason')}, via {payload.get('channel')}). Open the staff console to act.")
