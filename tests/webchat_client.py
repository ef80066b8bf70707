"""A web chat client for tests: a server-issued session, then real socket.io (polling)."""
import asyncio
import json
import urllib.request

from itsdangerous import URLSafeTimedSerializer

from tests.waiting import async_wait_until


def new_token(base_url, token=None):
    req = urllib.request.Request(f"{base_url}/webhooks/webchat/session", method="POST",
                                 data=json.dumps({"token": token}).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())


def conversation_of(token):
    """The conversation id a session token names (its payload is readable without the
    secret; only the signature needs it)."""
    return URLSafeTimedSerializer("unused").loads_unsafe(token)[1]


async def converse_turns(base_url, token, messages, until=None, max_wait=60.0, then_quiet_for=None,
                         history=False, extra=None):
    """Connect with a token, optionally fetch the history, send each message (with `extra`
    fields in the payload) and collect the bot's messages until `until` - a test on the texts
    of the turn's replies so far, or a list of them, one per message - holds; it fails after
    `max_wait` seconds. The server marks no end of a turn, and on a busy machine two replies of
    one turn can be seconds apart, so a caller says what it is waiting for rather than trust a
    pause. `then_quiet_for`: once `until` holds, go on collecting until nothing more came for
    that many seconds - only for a test that asserts something does NOT follow. Returns (one
    list of bot messages per message sent, history)."""
    import socketio

    untils = until if isinstance(until, (list, tuple)) else [until] * len(messages)
    if len(untils) != len(messages) or None in untils:
        raise TypeError("say what each message's turn waits for: until=saying(...), replied, ...")
    client = socketio.AsyncClient()
    got, past, history_came = [], [], asyncio.Event()
    client.on("bot_uttered", lambda data: got.append(data))

    def on_history(data):
        past.extend(data.get("messages") or [])
        history_came.set()

    client.on("history", on_history)
    # wait_timeout: python-socketio's default 1 s for the handshake is too short on a busy machine.
    await client.connect(base_url, auth={"token": token}, socketio_path="/socket.io", transports=["polling"],
                         wait_timeout=30)
    try:
        if history:
            await client.emit("history_request")
            await asyncio.wait_for(history_came.wait(), 15)
        turns = []
        for text, done in zip(messages, untils):
            before = len(got)
            await client.emit("user_uttered", {"message": text, **(extra or {})})
            try:
                await async_wait_until(lambda: done(texts_of(got[before:])),
                                       f"{getattr(done, 'what', done.__name__)} after {text[:80]!r}", max_wait)
            except AssertionError as err:
                raise AssertionError(f"{err}; the turn so far: {texts_of(got[before:])!r}") from None
            if then_quiet_for:
                await _quiet(got, then_quiet_for)
            turns.append(got[before:])
    finally:
        await client.eio.disconnect(abort=True)  # a graceful close waits out a long-poll cycle
    return turns, past


async def _quiet(got, seconds):
    seen = len(got)
    while True:
        await asyncio.sleep(seconds)
        if len(got) == seen:
            return
        seen = len(got)


def texts_of(messages):
    return [m.get("text") or "" for m in messages]


def saying(*needles):
    """`until`: one reply that contains every needle."""
    def said(texts):
        return any(all(n in t for n in needles) for t in texts)

    said.what = "a reply saying " + " and ".join(map(repr, needles))
    return said


def replied(texts):
    """`until` for a turn whose replies the test does not look at: its first reply (the next
    message's replies come after this turn's, in order, on the same socket)."""
    return bool(texts)


replied.what = "a reply"


async def converse(base_url, token, messages, until=None, max_wait=60.0, then_quiet_for=None, extra=None):
    """(all the bot's messages, the history the server sent on connecting)."""
    turns, past = await converse_turns(base_url, token, messages, until, max_wait, then_quiet_for,
                                       history=True, extra=extra)
    return [m for turn in turns for m in turn], past


def chat(base_url, token, messages, **kw):
    replies, _ = asyncio.run(converse(base_url, token, messages, **kw))
    return texts_of(replies)
