"""Who may call the action server, and a 400 (not a 500) for what is not an action call.

Only the Rasa server may call it: our actions read and write any conversation (a forged call
could delete a patient's data or fake an escalation), and in a deployment the action server
listens on the internal network. The Rasa server sends a shared secret in the X-Action-Token
header (endpoints.yml, ACTION_SERVER_TOKEN); a call without it gets 401. In production the
secret is required (the server refuses to start without one); in development it is checked
whenever it is set (`make run` always sets one).

rasa_sdk's POST /webhook answers malformed JSON with 400 (after logging it as an ERROR with a
traceback: its catch-all handler sees Sanic's BadRequest first), and any other JSON it cannot use
(a list, a string, an object without a tracker, a tracker that is a string, a message text
that is a number) raises inside rasa_sdk or our actions, and its catch-all handler answers
500 with the whole request body echoed back (patient text included) and logs a traceback.
Found by tests/e2e/test_bad_input.py. The Rasa server always sends well-formed calls, so this
changes nothing for real traffic.

Applied as the registered replacement of rasa_sdk's create_app (bot.rasa_ext.install_for_action_server,
called by `python -m bot.serve.action_server`): the app it makes gets a request middleware
that checks the caller, the envelope and the fields our actions read, before rasa_sdk sees
the request.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import zlib
from typing import Any, Optional

import rasa_sdk.endpoint

from bot.rasa_ext.registry import ACTIONS, SAFETY, then
from bot.config.secrets import ACTION_TOKEN_HEADER

logger = logging.getLogger(__name__)
MAX_CALL_BYTES = 20 * 1024 * 1024  # a long conversation's tracker is far smaller


def expected_token() -> Optional[str]:
    """ACTION_SERVER_TOKEN; required in production (get_secret refuses to start without it)."""
    from bot.config.secrets import get_secret, production

    if production():
        return get_secret("ACTION_SERVER_TOKEN")
    return os.environ.get("ACTION_SERVER_TOKEN") or None


def _is(value: Any, kind, optional: bool = True) -> bool:
    return (optional and value is None) or (isinstance(value, kind) and not isinstance(value, bool))


def problem_with(call: Any) -> Optional[str]:
    """What is wrong with an action call, or None if our actions can run it."""
    if not isinstance(call, dict):
        return "expected a JSON object (an action call)"
    if call.get("next_action") is None:
        return None  # rasa_sdk answers 200 with nothing to run
    if not _is(call.get("next_action"), str, optional=False) or not _is(call.get("domain"), dict):
        return "'next_action' must be a string and 'domain' an object"
    tracker = call.get("tracker")
    if not isinstance(tracker, dict) or not _is(tracker.get("sender_id"), str, optional=False):
        return "'tracker' must be an object with a string 'sender_id'"
    if not (_is(tracker.get("slots"), dict) and _is(tracker.get("latest_message"), dict)
            and _is(tracker.get("events"), list) and _is(tracker.get("active_loop"), dict)):
        return "'tracker' has fields of the wrong type"
    if not all(isinstance(e, dict) for e in tracker.get("events") or ()):
        return "'tracker.events' must be objects"
    message = tracker.get("latest_message") or {}
    ranking = message.get("intent_ranking")
    if not (_is(message.get("text"), str) and _is(message.get("intent"), dict) and _is(ranking, list)
            and _is(message.get("triage"), dict) and _is(message.get("metadata"), dict)
            and all(isinstance(r, dict) for r in ranking or ())):
        return "'tracker.latest_message' has fields of the wrong type"
    return None


def guard(app: Any) -> None:
    """Give rasa_sdk's app the request middleware that refuses what is not our Rasa server's
    action call."""
    from sanic import response
    from sanic.exceptions import InvalidUsage

    token = expected_token()

    @app.middleware("request")
    async def refuse_what_is_not_an_action_call(request):
        if request.method != "POST" or request.path.rstrip("/") != "/webhook":
            return None
        if token and not hmac.compare_digest(request.headers.get(ACTION_TOKEN_HEADER, "").encode(), token.encode()):
            logger.warning("action server: call without the right %s refused", ACTION_TOKEN_HEADER)
            return response.json({"error": "unauthorised"}, status=401)
        body = request.body or b""
        try:
            if request.headers.get("Content-Encoding") == "deflate":
                inflater = zlib.decompressobj()
                body = inflater.decompress(body, MAX_CALL_BYTES)
                if inflater.unconsumed_tail:
                    return response.json({"error": "action call too large"}, status=413)
                call = json.loads(body)
            elif not body:
                raise ValueError("empty body")
            else:
                # Sanic keeps the parsed body: rasa_sdk's handler reads it without parsing the
                # whole tracker a second time.
                call = request.json
        except (ValueError, zlib.error, RecursionError, InvalidUsage):
            return response.json({"error": "expected a JSON action call"}, status=400)
        problem = problem_with(call)
        if problem:
            logger.warning("action server: request refused (%s)", problem)
            return response.json({"error": problem}, status=400)
        return None


then(rasa_sdk.endpoint, "create_app", guard, name="safety.action_calls_guarded", kind=SAFETY,
     library="rasa-sdk", process=ACTIONS, uses=("sanic",),
     why="only the Rasa server (X-Action-Token) may call the action server, and a malformed "
         "call gets 400 instead of a 500 that echoes the patient's text back")
