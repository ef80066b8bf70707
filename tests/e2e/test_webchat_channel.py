"""The web chat channel over real socket.io: sessions are issued by the server and bound to
signed tokens, so no client can choose or guess another patient's conversation."""
import asyncio
import json
import urllib.request

import pytest

from tests import webchat_client

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
    got, _ = asyncio.run(converse(live, token, ["can I exercise after the treatment?"]))
    texts = [m.get("text") for m in got]
    assert "automated assistant" in texts[0]
    assert any(kb.get("aftercare_rest").answer.startswith(t) for t in texts if t)
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
    web_got, _ = asyncio.run(converse(live, web_token, [question]))
    web_texts = " ".join(m.get("text") or "" for m in web_got)
    chat = 777001
    post_update(live, message(chat, question))
    tg_texts = " ".join(texts_to(live, chat))
    answer = kb.get("results_timeline").answer
    assert answer.split("\n\n")[0] in web_texts and answer in tg_texts

    asyncio.run(converse(live, web_token, [warning]))
    post_update(live, message(chat, warning))
    with transaction(live.database_url) as s:
        rows = list(s.scalars(select(Escalation).where(Escalation.reason == "symptoms",
                                                       Escalation.channel.in_(("webchat", "telegram")),
                                                       Escalation.conversation_id.in_((str(chat),)) |
                                                       Escalation.conversation_id.like("web-%"))))
    by_channel = {r.channel: r for r in rows if r.conversation_id == str(chat) or r.channel == "webchat"}
    assert by_channel["telegram"].level == by_channel["webchat"].level == "urgent"
