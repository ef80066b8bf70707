"""Rasa's REST channel (POST /webhooks/rest/webhook), made as safe as our other channels.
For local use, the tests and the benchmark only: see credentials.yml.

Rasa's stock RestInput passes text starting with "/" to Rasa, which reads
`/intent{"slot": "value"}` as that intent with confidence 1.0 and those entities (and logs
the whole text in a warning when the intent is unknown); it takes `input_channel` and
`metadata` from the request and logs the text of a message whose handling failed. Here:

- the text goes through `neutralise`, like the web chat's and Telegram's (a warning sign
  after a slash is still triaged), and is cut at MAX_MESSAGE_CHARS;
- `sender` must be a non-empty string of printable characters, at most MAX_SENDER_CHARS
  long, and `message` a string: anything else is a 400 naming the field and never reaches
  Rasa;
- the channel is always "rest" and client metadata is ignored (a client cannot pass itself
  off as another channel, which the safety net and the console write back to);
- messages take the path every channel's take (bot/channels/delivery.py: a staff takeover
  keeps the assistant quiet, a database outage gets the fail-closed reply);
- a failure is logged with the sender id and the error's type, never the text;
- no streaming: `?stream=true` is answered like any request.

It still takes `sender` from the request as-is, so whoever can reach it can write into any
conversation: it stays out of production (deploy/credentials.production.yml) and `make run`
binds to 127.0.0.1.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text, Tuple

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request

from bot.channels.commands import neutralise
from bot.channels.delivery import deliver

logger = logging.getLogger(__name__)
MAX_SENDER_CHARS = 128
MAX_MESSAGE_CHARS = 4000  # as the web chat


def read_request(body: bytes) -> Tuple[Optional[str], Optional[str], Optional[str]]:
    """(sender, text, None) for a valid request, else (None, None, what is wrong)."""
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested too deep
        return None, None, "expected a JSON object with 'sender' and 'message'"
    if not isinstance(data, dict):
        return None, None, "expected a JSON object with 'sender' and 'message'"
    sender, text = data.get("sender"), data.get("message")
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS \
            or not sender.isprintable():
        return None, None, f"'sender' must be a non-empty string of at most {MAX_SENDER_CHARS} printable characters"
    if sender.startswith("web-") or sender.lstrip("-").isdigit():
        # Web chat and Telegram conversation ids: REST must not write into them.
        return None, None, "'sender' must not be a web chat or Telegram conversation id"
    if not isinstance(text, str):
        return None, None, "'message' must be a string"
    return sender, neutralise(text)[:MAX_MESSAGE_CHARS], None


class RestInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "RestInput":
        return cls()

    def __init__(self) -> None:
        self.app = None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("clinic_rest", url_prefix="/webhooks/rest")

        @bp.listener("after_server_start")
        async def keep_app(app, loop):  # noqa: ANN001
            self.app = app

        @bp.route("/", methods=["GET"])
        async def health(_: Request):
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request):
            # JSON only: a cross-site form or text/plain post (no CORS preflight) is refused.
            if not (request.headers.get("content-type") or "").lower().startswith("application/json"):
                return response.json({"error": "expected Content-Type: application/json"}, status=400)
            sender, text, problem = read_request(request.body)
            if problem:
                return response.json({"error": problem}, status=400)
            collector = CollectingOutputChannel()
            try:
                await deliver(self.app, UserMessage(text, collector, sender, input_channel=self.name()),
                              on_new_message)
            except Exception as exc:  # noqa: BLE001 - the patient gets what was sent so far
                logger.error("rest: message from %s failed (%s)", sender, type(exc).__name__)
            return response.json(collector.messages)

        return bp
