"""Messages to a patient outside a turn (the safety net), through Rasa's own HTTP API: Rasa
runs `action_safety_net` in the conversation and sends its reply on the channel the patient
last used, and the message is in the transcript. The API is bound to loopback and needs the
token (RASA_API_TOKEN)."""
from __future__ import annotations

from typing import Any, Dict
from urllib.parse import quote

import httpx

from bot.notify.base import NotifierError

SAFETY_NET_ACTION = "action_safety_net"


class PatientMessenger:
    name = "patient"

    def __init__(self, rasa_url: str, token: str, timeout: float = 30.0):
        if not rasa_url or not token:
            raise ValueError("messages to patients need RASA_URL and RASA_API_TOKEN")
        self.rasa_url, self.token, self.timeout = rasa_url.rstrip("/"), token, timeout

    async def send(self, payload: Dict[str, Any]) -> None:
        conversation = quote(str(payload["conversation_id"]), safe="")
        url = f"{self.rasa_url}/conversations/{conversation}/execute"
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                resp = await client.post(url, params={"output_channel": "latest", "token": self.token},
                                         json={"name": SAFETY_NET_ACTION})
        except httpx.HTTPError as exc:
            raise NotifierError(f"Rasa unreachable: {type(exc).__name__}") from exc
        if resp.status_code >= 300:
            raise NotifierError(f"Rasa answered {resp.status_code}")
