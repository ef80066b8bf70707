"""Property-based fuzz of the live assistant's HTTP APIs: the web chat's session endpoint,
the Telegram webhook (random JSON, and real updates with random parts broken), Rasa's REST
channel, and the console's sign-in form. Whatever is sent: never a 5xx, never an update that
"failed" in handling, and no unhandled exception in any server's log.

`make test` runs a small, fixed set (derandomized); a campaign explores more:
    FUZZ_EXAMPLES=500 .venv/bin/python -m pytest -q tests/e2e/test_fuzz_http.py
"""
import copy
import itertools
import json
import urllib.parse

import httpx
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.console.conftest import csrf_from
from tests.e2e.bad_input_helpers import LogWatch, http, queue_left_as_found
from tests.e2e.conftest import TELEGRAM_SECRET
from tests.fuzz.strategies import any_char, content_type, fuzz_settings, json_value, message_text, raw_body

pytestmark = pytest.mark.slow

# Update ids from a range no other test uses: a collision would turn another test's update
# into a "duplicate".
_update_ids = itertools.count(7_000_000_000)
_chats = itertools.count(8_000_000_000)


@pytest.fixture(scope="module", autouse=True)
def _queue_left_as_found(live):
    with queue_left_as_found(live):  # random text can raise escalations
        yield


@pytest.fixture
def logs(live):
    watch = LogWatch(live.log_dir)
    yield watch
    assert not watch.unhandled(), "\n".join(watch.unhandled()[:10])


def body_and_type():
    as_json = json_value.map(lambda v: (json.dumps(v).encode(), "application/json"))
    return st.one_of(as_json, st.tuples(raw_body, content_type))


@fuzz_settings(50)
@given(body_and_type())
def test_webchat_session_answers_200_or_400(live, logs, request_):
    body, ctype = request_
    status, answer = http("POST", f"{live.rasa_url}/webhooks/webchat/session", body, ctype)
    event(f"HTTP {status}")  # the spread shows with --hypothesis-show-statistics
    assert status in (200, 400), (status, answer[:200])
    if status == 200:
        assert json.loads(answer)["token"]


# A well-formed private-chat update of each kind we handle, to be broken in random places.
def _templates(chat, text):
    sender = {"id": chat, "is_bot": False, "first_name": "Pat"}
    msg = {"message_id": 1, "date": 1_700_000_000, "chat": {"id": chat, "type": "private"}, "from": sender}
    return {
        "message": {"message": {**msg, "text": text}},
        "edited_message": {"edited_message": {**msg, "text": text, "edit_date": 1_700_000_100}},
        "caption": {"message": {**msg, "caption": text,
                                "photo": [{"file_id": "f1", "file_unique_id": "u1", "width": 1, "height": 1}]}},
        "sticker": {"message": {**msg, "sticker": {"file_id": "s", "file_unique_id": "s", "width": 1, "height": 1,
                                                     "is_animated": False, "is_video": False, "type": "regular"}}},
        "button": {"callback_query": {"id": "cb1", "from": sender, "chat_instance": "c", "data": text,
                                      "message": {**msg, "text": "Did you mean ...?"}}},
        "group": {"message": {**msg, "chat": {"id": chat, "type": "group", "title": "g"}, "text": text}},
    }


PATHS = [("update_id",), ("message",), ("message", "text"), ("message", "chat"), ("message", "chat", "id"),
         ("message", "chat", "type"), ("message", "date"), ("message", "from"), ("message", "message_id"),
         ("message", "caption"), ("message", "photo"), ("edited_message", "text"),
         ("callback_query", "data"), ("callback_query", "id"), ("callback_query", "message"),
         ("callback_query", "message", "chat")]
DELETE = object()


def _break(update, path, value):
    node = update
    for key in path[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(key), dict):
            return
        node = node[key]
    if value is DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


@st.composite
def telegram_updates(draw):
    if draw(st.integers(0, 4)) == 0:  # now and then, any JSON at all
        body = draw(json_value)
        if isinstance(body, dict) and type(body.get("update_id")) is int:
            body["update_id"] = next(_update_ids)
        return body
    kind = draw(st.sampled_from(list(_templates(0, ""))))
    update = {"update_id": next(_update_ids), **copy.deepcopy(_templates(next(_chats), draw(message_text))[kind])}
    for path in draw(st.lists(st.sampled_from(PATHS), max_size=3)):
        _break(update, path, draw(st.one_of(st.just(DELETE), json_value)))
    if type(update.get("update_id")) is int:
        update["update_id"] = next(_update_ids)
    return update


@fuzz_settings(50)
@given(telegram_updates())
def test_telegram_webhook_never_fails_on_any_update(live, logs, update):
    status, answer = http("POST", live.telegram_webhook, json.dumps(update).encode(),
                          headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
    event(f"HTTP {status} {json.loads(answer).get('status', '') if status == 200 else ''}")
    assert status in (200, 400), (status, answer[:200])
    if status == 200:
        # "failed" means handling raised after the update was accepted and recorded.
        assert json.loads(answer)["status"] in ("done", "duplicate"), answer


@fuzz_settings(50)
@given(st.one_of(
    st.fixed_dictionaries({"sender": st.one_of(st.from_regex(r"\Afuzz-[a-z0-9]{1,12}\Z"), st.text(any_char, max_size=20)),
                           "message": message_text}),
    json_value).map(lambda v: (json.dumps(v).encode(), "application/json")) | st.tuples(raw_body, content_type))
def test_rest_webhook_answers_200_or_400(live, logs, request_):
    body, ctype = request_
    status, answer = http("POST", f"{live.rasa_url}/webhooks/rest/webhook", body, ctype)
    event(f"HTTP {status}")
    assert status in (200, 400), (status, answer[:200])


# Never the name of a real account: failed sign-ins would lock it for the other tests.
form_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)
usernames = form_text.filter(lambda name: not name.startswith(("badinput_", "nurse", "admin")))


@fuzz_settings(25)
@given(st.one_of(
    # The real form with a valid CSRF token and any name and password (each costs the 0.5 s
    # delay of a failed sign-in).
    st.tuples(st.just("valid-csrf"), st.fixed_dictionaries({"username": usernames, "password": form_text})),
    # Any fields, with a token that is missing or wrong.
    st.tuples(st.just("form"), st.dictionaries(st.sampled_from(["csrf", "username", "password", "x"]), form_text)),
    # Any body with any content type.
    st.tuples(st.just("raw"), st.tuples(raw_body, content_type)),
))
def test_console_sign_in_form_never_answers_5xx(live, logs, attempt):
    how, payload = attempt
    client = httpx.Client(base_url=live.console_url, timeout=30, follow_redirects=False)
    token = csrf_from(client.get("/login").text)
    if how == "raw":
        body, ctype = payload
        resp = client.post("/login", content=body, headers={"content-type": ctype} if ctype else {})
    else:
        fields = {**payload, "csrf": token} if how == "valid-csrf" else payload
        resp = client.post("/login", content=urllib.parse.urlencode(fields).encode(),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    event(f"{how}: HTTP {resp.status_code}")
    assert resp.status_code in (400, 401, 403, 413), (resp.status_code, resp.text[:200])
    if how == "valid-csrf":
        assert resp.status_code == 401 and "Wrong user name or password" in resp.text
