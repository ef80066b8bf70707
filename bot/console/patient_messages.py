"""Send a staff member's message to a patient: appended to the conversation through Rasa's
API (token, loopback), which delivers it on the channel the patient last used (Telegram, or
the web chat if connected; otherwise it waits in the transcript for their return)."""
from __future__ import annotations

import os
import time
from urllib.parse import quote

import httpx


class DeliveryError(RuntimeError):
    pass


async def send_to_patient(conversation_id: str, text: str, label: str = "staff_reply",
                          staff: str = "") -> None:
    rasa_url, token = os.environ.get("RASA_URL", ""), os.environ.get("RASA_API_TOKEN", "")
    if not rasa_url or not token:
        raise DeliveryError("the console needs RASA_URL and RASA_API_TOKEN to reach patients")
    url = f"{rasa_url.rstrip('/')}/conversations/{quote(conversation_id, safe='')}/tracker/events"
    event = {"event": "bot", "text": text, "timestamp": time.time(),
             "metadata": {"label": label, "staff": staff}}
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            resp = await client.post(url, json=event, params={"output_channel": "latest",
                                                              "execute_side_effects": "true", "token": token})
    except httpx.HTTPError as exc:
        raise DeliveryError(f"the assistant is unreachable ({type(exc).__name__})") from exc
    if resp.status_code >= 300:
        raise DeliveryError(f"the assistant answered {resp.status_code}")
