"""The web chat channel over real socket.io: sessions are issued by the server and bound to
signed tokens, so no client can choose or guess another patient's conversation."""
import asyncio
import json
import urllib.request

import pytest

from tests import webchat_client
from tests.webchat_client import saying

pytestmark = pytest.mark.slow


def new_token(live, token=None):
    return webchat_client.new_token(live.rasa_url, token)


async def converse(live, token, messages, **kw):
    # Every message claims another session id: the server must ignore it.
    return await webchat_client.converse(live.rasa_url, token, messages,
                                         extra={"session_id": "web-attacker-chosen"}, **kw)


def socketio_connect_answer(live, auth):
    """Speak Engine.IO/Socket.IO over plain HTTP polling: open a transport, ask to connect to
    the default namespace with `auth`, and return the server's answer packet."""
    base = f"{live.rasa_url}/socket.io/?EIO=4&transport=polling"
    opened = urllib.request.urlopen(base, timeout=10).read().decode()
    sid = json.loads(opened[opened.index("{"):])["sid"]
    packet = "40" + (json.dumps(auth) if auth is not None else "")
    urllib.request.urlopen(urllib.request.Request(f"{base}&sid={sid}", data=packet.encode(), method="POST"),
                           timeout=10).read()
    return urllib.request.urlopen(f"{base}&sid={sid}", timeout=10).read().decode()


def test_a_socket_without_a_valid_token_is_refused(live):
    refused = "44"  # Socket.IO CONNECT_ERROR
    assert socketio_connect_answer(live, None).startswith(refused)
    assert socketio_connect_answer(live, {"token": "web-0123456789abcdef"}).startswith(refused)
    forged = new_token(live)["token"][:-4] + "AAAA"
    assert socketio_connect_answer(live, {"token": forged}).startswith(refused)
    assert socketio_connect_answer(live, {"token": new_token(live)["token"]}).startswith("40")  # accepted


def test_question_answered_and_history_kept_for_the_same_token_only(live, kb):
    token = new_token(live)["token"]
    answer = kb.get("aftercare_rest").answer

    def answered(texts):
        return any(answer.startswith(t) for t in texts if t)

    got, _ = asyncio.run(converse(live, token, ["can I exercise after the treatment?"], until=answered))
    texts = [m.get("text") for m in got]
    assert "automated assistant" in texts[0]
    assert answered(texts)
    # Same token (a reload): the history comes back.
    assert new_token(live, token) == {"token": token, "resumed": True}
    _, history = asyncio.run(converse(live, token, []))
    assert [h["from"] for h in history][:2] == ["bot", "user"] and "exercise" in history[1]["text"]
    # Another visitor's token sees none of it, whatever session_id the client claims.
    _, other = asyncio.run(converse(live, new_token(live)["token"], []))
    assert other == []


def test_malformed_session_request_is_a_clear_400(live):
    req = urllib.request.Request(f"{live.rasa_url}/webhooks/webchat/session", method="POST",
                                 data=b"{oops", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 400


def test_static_files_cannot_escape_their_folder(live):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{live.rasa_url}/webhooks/webchat/static/..%2F..%2Fclinic.yml", timeout=30)
    assert err.value.code == 404


def test_both_channels_serve_the_same_assistant(live, kb):
    """The same question gets the same vetted answer, and a warning sign escalates the same
    way, on the web chat and on Telegram."""
    from sqlalchemy import select

    from bot.storage.db import transaction
    from bot.storage.models import Escalation
    from tests.e2e.telegram_helpers import message, post_update, texts_to

    question = "how soon will I see new hair?"
    warning = "had my treatment yesterday and there's yellow pus where they injected"
    web_token = new_token(live)["token"]
    answer = kb.get("results_timeline").answer
    web_got, _ = asyncio.run(converse(live, web_token, [question], until=saying(answer.split("\n\n")[0])))
    web_texts = " ".join(m.get("text") or "" for m in web_got)
    chat = 777001
    post_update(live, message(chat, question))
    tg_texts = " ".join(texts_to(live, chat))
    assert answer.split("\n\n")[0] in web_texts and answer in tg_texts

    asyncio.run(converse(live, web_token, [warning], until=saying("alerted the clinic's staff")))  # escalated by then
    post_update(live, message(chat, warning))
    with transaction(live.database_url) as s:
        rows = list(s.scalars(select(Escalation).where(Escalation.reason == "symptoms",
                                                       Escalation.channel.in_(("webchat", "telegram")),
                                                       Escalation.conversation_id.in_((str(chat),)) |
                                                       Escalation.conversation_id.like("web-%"))))
    by_channel = {r.channel: r for r in rows if r.conversation_id == str(chat) or r.channel == "webchat"}
    assert by_channel["telegram"].level == by_channel["webchat"].level == "urgent"


def turn(live, token, text, until):
    """Send one message; the texts of the bot's replies once `until` holds for them."""
    turns, _ = asyncio.run(webchat_client.converse_turns(live.rasa_url, token, [text], max_wait=120, until=until))
    return [m.get("text") or "" for m in turns[0]]


def test_the_urgent_reply_promises_a_call_only_once_there_is_a_phone_number(live):
    """Staff cannot call a web chat patient back without a number: until one is given the
    urgent reply says whom to call now (the clinic is open: its main line) and offers a call
    back; once it is, the call back is promised, and so it is for a later warning sign."""
    minutes = live.clinic.urgent_callback_minutes
    token = new_token(live)["token"]
    first = turn(live, token, "I had the injections 2 days ago and now I have a fever and chills",
                 saying("what's your name"))
    [urgent] = [t for t in first if "alerted the clinic's staff" in t]
    assert "will get in touch" not in urgent and "will call you" not in urgent
    assert f"please call the clinic now on {live.clinic.contact}" in urgent and "leave me a phone number" in urgent

    turn(live, token, "Maria Lopez", saying("phone number or email"))
    [saved] = [t for t in turn(live, token, "+44 7700 900123", saying("added this to your report"))
               if "added this to your report" in t]
    assert f"a nurse will call you on that number within {minutes} minutes" in saved

    later = turn(live, token, "and now there's yellow pus where they injected", saying("alerted the clinic's staff"))
    [urgent] = [t for t in later if "alerted the clinic's staff" in t]
    assert f"A nurse will get in touch with you within {minutes} minutes" in urgent
    assert "please call the clinic now" not in urgent


def test_a_token_stops_working_once_its_conversation_is_deleted(live):
    """After "delete my data", whoever holds the token (a shared computer, a copied link) can
    neither resume the conversation nor read or write it: the open socket is told the session
    ended (with its unsent message, so nothing typed is lost), a new connection is refused,
    and the page gets a new, empty conversation."""
    token = new_token(live)["token"]
    conversation = webchat_client.conversation_of(token)

    async def delete_then_write():
        import socketio

        client = socketio.AsyncClient()
        got, ended = [], asyncio.Event()
        ended_with = {}
        client.on("bot_uttered", lambda data: got.append(data.get("text") or ""))

        def on_ended(data):
            ended_with.update(data or {})
            ended.set()

        client.on("session_ended", on_ended)
        await client.connect(live.rasa_url, auth={"token": token}, socketio_path="/socket.io",
                             transports=["polling"], wait_timeout=30)  # 1 s by default: too short when busy
        await client.emit("user_uttered", {"message": "please delete my data"})
        while not any("delete" in t.lower() for t in got):
            await asyncio.sleep(0.05)
        asked = len(got)
        await client.emit("user_uttered", {"message": "yes"})
        while len(got) == asked:
            await asyncio.sleep(0.05)
        await client.emit("user_uttered", {"message": "one more thing after deleting"})
        await asyncio.wait_for(ended.wait(), 60)
        await client.eio.disconnect(abort=True)
        return ended_with

    ended_with = asyncio.run(asyncio.wait_for(delete_then_write(), 180))
    assert ended_with.get("message") == "one more thing after deleting"

    again = new_token(live, token)
    assert again["resumed"] is False and webchat_client.conversation_of(again["token"]) != conversation
    assert socketio_connect_answer(live, {"token": token}).startswith("44")  # refused
    # The new conversation starts empty.
    _, past = asyncio.run(webchat_client.converse(live.rasa_url, again["token"], []))
    assert past == []


def test_a_flood_of_history_requests_is_refused_and_others_are_still_served(live):
    """One anonymous socket asking for its history in a loop: past its limit the requests are
    refused (told once), and meanwhile another patient's warning sign is answered and
    escalated. How long the other patient waits is measured by `make bench`, not here."""
    from tests.e2e.channel_clients import escalations
    from tests.waiting import wait_until

    flood_token = new_token(live)["token"]
    asyncio.run(converse(live, flood_token, ["what are exosomes?"], until=webchat_client.replied))
    patient_token = new_token(live)["token"]
    patient = webchat_client.conversation_of(patient_token)
    requests = 300

    async def flood_and_report():
        import websockets

        # Engine.IO 4 / Socket.IO 5 spoken over a plain websocket: one frame per request, as a
        # hostile script would send them (the project's socket.io client batches over polling,
        # and its websocket transport needs a newer aiohttp than Rasa allows).
        ws_url = live.rasa_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        served, refused = [], []
        async with websockets.connect(ws_url, max_size=None) as ws:
            assert (await ws.recv()).startswith("0")  # Engine.IO open
            await ws.send("40" + json.dumps({"token": flood_token}))
            assert (await ws.recv()).startswith("40")  # Socket.IO connect accepted

            async def read_answers():
                while True:
                    frame = await ws.recv()
                    if frame == "2":
                        await ws.send("3")  # pong
                    elif frame.startswith('42["history"'):
                        answer = json.loads(frame[2:])[1]
                        (served if "messages" in answer else refused).append(answer)

            reader = asyncio.create_task(read_answers())
            for _ in range(requests):
                await ws.send('42["history_request"]')
            turns, _ = await webchat_client.converse_turns(
                live.rasa_url, patient_token,
                ["I had my injections yesterday and now I have a fever and the redness is spreading"],
                max_wait=120, until=lambda texts: any("clinic" in t.lower() for t in texts))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 120
            while not refused and loop.time() < deadline:
                await asyncio.sleep(0.05)
            reader.cancel()
        return served, refused, turns

    served, refused, turns = asyncio.run(flood_and_report())
    assert refused and refused[0].get("unavailable") and refused[0].get("reason") == "rate_limited"
    assert len(served) <= 10, f"{len(served)} of {requests} history requests were served"
    assert turns[0], "the other patient got no reply during the flood"
    wait_until(lambda: any(e.reason == "symptoms" for e in escalations(live, patient)),
               "the other patient's warning sign to be escalated", 120)


def test_a_flood_of_readiness_probes_asks_the_database_once_per_second(live):
    import time
    from concurrent.futures import ThreadPoolExecutor

    def probe(_):
        with urllib.request.urlopen(f"{live.rasa_url}/webhooks/health/ready", timeout=60) as r:
            return r.status, json.loads(r.read())

    began = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(probe, range(160)))
    elapsed = time.monotonic() - began
    assert all(status == 200 and body["database"] == "ok" for status, body in answers)
    # Each distinct `checked_at` is one database check; at most one per second (+1 at each end).
    checks = {body["checked_at"] for _, body in answers}
    assert len(checks) <= elapsed + 2, (len(checks), elapsed)
