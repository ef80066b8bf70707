"""Helpers for talking to the live assistant's Telegram webhook as Telegram would.

Update ids come from one counter started at a random point, so they never collide between
test modules (the webhook rightly treats a repeated update_id as a redelivery)."""
import itertools
import json
import random
import urllib.error
import urllib.request

from tests.e2e.conftest import TELEGRAM_SECRET

_ids = itertools.count(random.randrange(10**6, 10**9))


def next_id() -> int:
    return next(_ids)


def post_update(live, update, secret=TELEGRAM_SECRET, raw=None):
    body = raw if raw is not None else json.dumps(update).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    req = urllib.request.Request(live.telegram_webhook, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def message(chat_id, text=None, chat_type="private", **extra):
    msg = {"message_id": next_id(), "date": 1700000000, "chat": {"id": chat_id, "type": chat_type},
           "from": {"id": chat_id, "is_bot": False, "first_name": "Pat"}, **extra}
    if text is not None:
        msg["text"] = text
    return {"update_id": next_id(), "message": msg}


def sent_to(live, chat_id):
    return [p for p in live.telegram.sent() if str(p.get("chat_id")) == str(chat_id)]


def texts_to(live, chat_id):
    return [p["text"] for p in sent_to(live, chat_id)]
