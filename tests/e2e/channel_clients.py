"""Talk to the live assistant as each channel's clients do (REST, web chat over real
socket.io, Telegram through its webhook), and read the results back through Rasa's
token-protected API and the database."""
import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request

from sqlalchemy import select

from bot.storage.db import transaction
from bot.storage.models import Escalation, OutboxMessage
from tests.waiting import wait_until
from tests.webchat_client import conversation_of, converse_turns, new_token


def http(method, url, body=None, headers=None, timeout=60):
    """(status, headers, body bytes); never raises for an HTTP error status."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def api(live, path, method="GET", body=None):
    """Rasa's HTTP API with the token."""
    sep = "&" if "?" in path else "?"
    return http(method, f"{live.rasa_url}{path}{sep}token={live.api_token}", body)


def tracker(live, conversation):
    status, _, body = api(live, f"/conversations/{urllib.parse.quote(str(conversation), safe='')}/tracker")
    assert status == 200, body
    return json.loads(body)


def rest_say(live, sender, text):
    status, _, body = http("POST", f"{live.rasa_url}/webhooks/rest/webhook", {"sender": sender, "message": text})
    assert status == 200, body
    return [m.get("text") for m in json.loads(body)]


def webchat_session(live):
    """A server-issued session: (token, the conversation id the token names)."""
    token = new_token(live.rasa_url)["token"]
    return token, conversation_of(token)


def webchat_say(live, token, messages, until, max_wait=60.0):
    """The texts of the bot's replies to `messages` in a new session (`until`: as in
    converse_turns), returned once Rasa has recorded every turn: it saves a conversation when a
    turn is over, after its last reply went out - the one end-of-turn mark the server gives."""
    turns, _ = asyncio.run(converse_turns(live.rasa_url, token, messages, until, max_wait))
    conversation = conversation_of(token)
    wait_until(lambda: len([e for e in tracker(live, conversation)["events"] if e["event"] == "user"])
               >= len(messages), f"the {len(messages)} web chat turns to be recorded", max_wait)
    return [m.get("text") for turn in turns for m in turn]


def escalations(live, conversation):
    with transaction(live.database_url) as s:
        return list(s.scalars(select(Escalation).where(Escalation.conversation_id == str(conversation))))


def alerts(live, escalation_id):
    with transaction(live.database_url) as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.escalation_id == escalation_id)))
