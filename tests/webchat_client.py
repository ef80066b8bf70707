"""A web chat client for tests: a server-issued session, then real socket.io (polling)."""
import asyncio
import json
import urllib.request


def new_token(base_url, token=None):
    req = urllib.request.Request(f"{base_url}/webhooks/webchat/session", method="POST",
                                 data=json.dumps({"token": token}).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())


async def converse(base_url, token, messages, quiet=1.0, max_wait=20.0):
    """Connect with a token, fetch the history, send each message and collect the replies
    until the bot has been quiet for `quiet` seconds. Returns (replies, history)."""
    import socketio

    client = socketio.AsyncClient()
    got, history, history_came = [], [], asyncio.Event()
    client.on("bot_uttered", lambda data: got.append(data))

    def on_history(data):
        history.extend(data.get("messages") or [])
        history_came.set()

    client.on("history", on_history)
    await client.connect(base_url, auth={"token": token}, socketio_path="/socket.io", transports=["polling"])
    await client.emit("history_request")
    await asyncio.wait_for(history_came.wait(), 15)
    loop = asyncio.get_running_loop()
    for text in messages:
        before = len(got)
        await client.emit("user_uttered", {"message": text})
        start = last_change = loop.time()
        seen = before
        while loop.time() - start < max_wait:
            await asyncio.sleep(0.1)
            if len(got) != seen:
                seen, last_change = len(got), loop.time()
            elif len(got) > before and loop.time() - last_change > quiet:
                break
    await client.eio.disconnect(abort=True)  # a graceful close waits out a long-poll cycle
    return got, history


def chat(base_url, token, messages, **kw):
    replies, _ = asyncio.run(converse(base_url, token, messages, **kw))
    return [m.get("text") or "" for m in replies]
