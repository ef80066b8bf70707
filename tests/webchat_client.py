"""A web chat client for tests: a server-issued session, then real socket.io (polling)."""
import asyncio
import json
import urllib.request

from itsdangerous import URLSafeTimedSerializer


def new_token(base_url, token=None):
    req = urllib.request.Request(f"{base_url}/webhooks/webchat/session", method="POST",
                                 data=json.dumps({"token": token}).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())


def conversation_of(token):
    """The conversation id a session token names (its payload is readable without the
    secret; only the signature needs it)."""
    return URLSafeTimedSerializer("unused").loads_unsafe(token)[1]


async def converse_turns(base_url, token, messages, quiet=1.0, max_wait=20.0, history=False, extra=None,
                         until=None):
    """Connect with a token, optionally fetch the history, send each message (with `extra`
    fields in the payload) and collect the bot's messages until it has been quiet for
    `quiet` seconds - or, with `until` (a test on the texts of the turn's replies so far),
    until that holds: a reply that comes in several messages can pause longer than `quiet`
    on a busy machine. Returns (one list of bot messages per message sent, history)."""
    import socketio

    client = socketio.AsyncClient()
    got, past, history_came = [], [], asyncio.Event()
    client.on("bot_uttered", lambda data: got.append(data))

    def on_history(data):
        past.extend(data.get("messages") or [])
        history_came.set()

    client.on("history", on_history)
    await client.connect(base_url, auth={"token": token}, socketio_path="/socket.io", transports=["polling"])
    if history:
        await client.emit("history_request")
        await asyncio.wait_for(history_came.wait(), 15)
    loop = asyncio.get_running_loop()
    turns = []
    for text in messages:
        before = len(got)
        await client.emit("user_uttered", {"message": text, **(extra or {})})
        start = last_change = loop.time()
        seen = before
        while loop.time() - start < max_wait:
            await asyncio.sleep(0.05)
            if until is not None:
                if until([m.get("text") or "" for m in got[before:]]):
                    break
                continue
            if len(got) != seen:
                seen, last_change = len(got), loop.time()
            elif len(got) > before and loop.time() - last_change > quiet:
                break
        turns.append(got[before:])
    await client.eio.disconnect(abort=True)  # a graceful close waits out a long-poll cycle
    return turns, past


async def converse(base_url, token, messages, quiet=1.0, max_wait=20.0, extra=None, until=None):
    """(all the bot's messages, the history the server sent on connecting)."""
    turns, past = await converse_turns(base_url, token, messages, quiet, max_wait, history=True, extra=extra,
                                       until=until)
    return [m for turn in turns for m in turn], past


def chat(base_url, token, messages, **kw):
    replies, _ = asyncio.run(converse(base_url, token, messages, **kw))
    return [m.get("text") or "" for m in replies]
