"""Close the part of Rasa's HTTP API that must never be used here, even with the token.

`rasa run --enable-api` registers, behind the API token, routes under /model that replace
the running model (PUT /model: from any path on the server or any URL; a model archive names
Python classes to import, so an untrusted archive is code execution), unload it (DELETE
/model: the assistant stops answering), train (POST /model/train) and run tests
(POST /model/test/stories, /model/test/intents), plus /model/parse and /model/predict, which
nothing of ours uses (the worker and the console use /conversations/... only). A leaked token
must not turn into any of that, so every route under /model answers 403, whatever the token.

How: an app-level Sanic request middleware. Sanic (21.12) runs request middleware after
routing and before the handler, on every request, so a closed route's handler never runs.
It matches the *route's* pattern, not the raw URL, so "/model/train/" is closed too (and
"//model/train" or "/model%2Ftrain" match no route at all: 404).

It also keeps the token out of the logs: Rasa takes it only as a query parameter (?token=),
and Sanic logs the full URL of any request whose handler fails ("Exception occurred while
handling uri: '.../conversations/ID/execute?token=...'"), e.g. a safety-net message sent by
the worker while the database is down. A logging filter redacts it.

Both are installed in the Rasa server process in either of two ways:

- as an input channel, `bot.rasa_ext.safety.api_hardening.ApiHardening:` in credentials.yml
  and deploy/credentials.production.yml: its blueprint has no routes, only a
  before_server_start listener that receives the app (tests/e2e/test_api_security.py checks
  both files list it);
- as the registered replacement of `rasa.server.create_app`, applied by
  `bot.rasa_ext.install_for_rasa()`: `python -m bot.serve.rasa_cli run ARGS` is
  `python -m rasa run ARGS` with both in place from the moment Rasa creates its app, whatever
  the credentials file says.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Awaitable, Callable, Dict, Optional, Text

import rasa.server
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request

from bot.rasa_ext.registry import SAFETY, then

logger = logging.getLogger(__name__)
CLOSED_PREFIX = "model"
_FLAG = "clinic_model_api_closed"
_TOKEN_IN_URL = re.compile(r"([?&]token=)[^&#'\"\s]+")


def is_closed(route_path: str) -> bool:
    path = "/".join(part for part in (route_path or "").split("/") if part)
    return path == CLOSED_PREFIX or path.startswith(CLOSED_PREFIX + "/")


async def refuse_closed_routes(request: Request):
    route = getattr(request, "route", None)
    if route is not None and is_closed(route.path):
        logger.warning("refused %s /%s: the model API is closed on this server", request.method, route.path)
        return response.json({"status": "failure", "reason": "Forbidden", "code": 403,
                              "message": "The model API is disabled on this server."}, status=403)
    return None


def close_model_routes(app: Sanic) -> None:
    """Install the middleware once per app (idempotent)."""
    if getattr(app.ctx, _FLAG, False):
        return
    app.register_middleware(refuse_closed_routes, "request")
    setattr(app.ctx, _FLAG, True)
    closed = sum(len(route.methods) for route in app.router.routes if is_closed(route.path))
    logger.info("Rasa HTTP API: %d model route(s) closed", closed)


class RedactTokens(logging.Filter):
    """Replaces the value of a `token` query parameter in a log message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logged as it is
            return True
        redacted = _TOKEN_IN_URL.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        request = getattr(record, "request", None)  # Sanic's access log: "GET http://...?token=..."
        if isinstance(request, str):
            record.request = _TOKEN_IN_URL.sub(r"\1[redacted]", request)
        return True


_redactor = RedactTokens()


def redact_tokens_in_logs() -> None:
    """On Sanic's loggers (their own records) and on every handler of the loggers in use
    (records propagated from any other logger). Idempotent."""
    names = ("sanic.error", "sanic.access", "sanic.root", "sanic.server", "rasa", "")
    for name in names:
        log = logging.getLogger(name)
        if _redactor not in log.filters:
            log.addFilter(_redactor)
        for handler in log.handlers:
            if _redactor not in handler.filters:
                handler.addFilter(_redactor)


def harden(app: Sanic) -> None:
    close_model_routes(app)
    redact_tokens_in_logs()


class ApiHardening(InputChannel):
    """Not a channel for messages: it only hands the hardening the running app."""

    @classmethod
    def name(cls) -> Text:
        return "api_hardening"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "ApiHardening":
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("clinic_api_hardening", url_prefix="/webhooks/api_hardening")

        @bp.listener("before_server_start")
        async def before_start(app, loop):  # noqa: ANN001
            harden(app)

        return bp


then(rasa.server, "create_app", harden, name="safety.model_api_closed", kind=SAFETY, library="rasa", uses=("sanic",),
     why="every /model route (replace, unload, train, test the model) answers 403 whatever the "
         "token, and the token is redacted from logs, from the moment Rasa creates its app")
