"""Generic HTTP webhook: POSTs the payload as JSON, signed with HMAC-SHA256 so the receiver
can check it came from us (header X-Clinic-Signature: sha256=<hex>)."""
from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Dict

import httpx

from bot.notify.base import NotifierError, summary


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    name = "webhook"

    def __init__(self, url: str, secret: str, timeout: float = 10.0):
        if not url or not secret:
            raise ValueError("the webhook notifier needs STAFF_WEBHOOK_URL and STAFF_WEBHOOK_SECRET")
        self.url, self.secret, self.timeout = url, secret, timeout

    async def send(self, payload: Dict[str, Any]) -> None:
        body = json.dumps({**payload, "text": summary(payload)}, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "X-Clinic-Signature": signature(self.secret, body)}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                resp = await client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise NotifierError(f"webhook unreachable: {type(exc).__name__}") from exc
        if resp.status_code >= 300:
            raise NotifierError(f"webhook answered {resp.status_code}")
