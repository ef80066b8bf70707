"""A 400, not a 500, for action-server requests that are not action calls.

rasa_sdk's POST /webhook answers malformed JSON with 400 (after logging it as an ERROR with a
traceback: its catch-all handler sees Sanic's BadRequest first), and any other JSON it cannot use
(a list, a string, an object without a tracker, a tracker that is a string, a message text
that is a number) raises inside rasa_sdk or our actions, and its catch-all handler answers
500 with the whole request body echoed back (patient text included) and logs a traceback.
Found by tests/e2e/test_bad_input.py. Only the Rasa server calls this endpoint (on loopback),
and it always sends well-formed calls, so this changes nothing for real traffic.

rasa_sdk's create_app() makes its Sanic app before it imports the actions package, so the
app can be found by name here and given a request middleware that checks the envelope and the
fields our actions read, before rasa_sdk sees the request.
"""
from __future__ import annotations

import json
import logging
import zlib
from typing import Any, Optional

logger = logging.getLogger(__name__)
SDK_APP = "rasa_sdk"


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


def install() -> None:
    try:
        from sanic import Sanic, response

        app = Sanic.get_app(SDK_APP)
    except Exception:  # noqa: BLE001 - not inside the action server (e.g. unit tests import actions)
        return

    @app.middleware("request")
    async def refuse_what_is_not_an_action_call(request):
        if request.method != "POST" or request.path != "/webhook":
            return None
        body = request.body or b""
        try:
            if request.headers.get("Content-Encoding") == "deflate":
                body = zlib.decompress(body)
            call = json.loads(body)
        except (ValueError, zlib.error, RecursionError):
            return response.json({"error": "expected a JSON action call"}, status=400)
        problem = problem_with(call)
        if problem:
            logger.warning("action server: request refused (%s)", problem)
            return response.json({"error": problem}, status=400)
        return None
