"""The pieces of bot/channels/rest.py and bot/rasa_ext/safety/api_hardening.py that decide, without a
server (the live behaviour is in tests/e2e/test_slash_commands.py and test_api_security.py)."""
import json
import logging

import pytest

from bot.channels.rest import MAX_MESSAGE_CHARS, read_request
from bot.rasa_ext.safety.api_hardening import RedactTokens, is_closed


@pytest.mark.parametrize("path", ["model", "/model", "model/", "model/train", "/model/test/intents",
                                  "model/parse", "//model//train/"])
def test_every_route_under_model_is_closed(path):
    assert is_closed(path)


@pytest.mark.parametrize("path", ["", "/", "status", "conversations/<conversation_id:path>/tracker",
                                  "models", "webhooks/rest/webhook", "domain", "version", "modelx/train"])
def test_other_routes_stay_open(path):
    assert not is_closed(path)


def body(**fields):
    return json.dumps(fields).encode()


@pytest.mark.parametrize("text, expected", [
    ('/inform{"treatment_date": "2020-01-01"}', 'inform{"treatment_date": "2020-01-01"}'),
    ("  //kb_cost", "kb_cost"),
    ("/report_symptom I have a fever", "report_symptom I have a fever"),
    ("what does it cost? /kb_cost", "what does it cost? /kb_cost"),
])
def test_text_is_neutralised(text, expected):
    assert read_request(body(sender="pat-1", message=text)) == ("pat-1", expected, None)


def test_long_text_is_cut():
    _, text, _ = read_request(body(sender="pat-1", message="a" * (MAX_MESSAGE_CHARS + 50)))
    assert len(text) == MAX_MESSAGE_CHARS


@pytest.mark.parametrize("raw", [
    body(sender=1, message="hi"), body(sender="", message="hi"), body(sender="x" * 129, message="hi"),
    body(sender="a\tb", message="hi"), body(message="hi"), body(sender="pat", message=["hi"]),
    body(sender="pat"), b"[]", b"", b"{nope", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000,
])
def test_malformed_requests_are_refused_with_a_reason(raw):
    sender, text, problem = read_request(raw)
    assert (sender, text) == (None, None) and problem


@pytest.mark.parametrize("args, expected", [
    (("'http://127.0.0.1:5005/conversations/7/execute?output_channel=latest&token=s3cr-et_X'",),
     "uri: 'http://127.0.0.1:5005/conversations/7/execute?output_channel=latest&token=[redacted]'"),
    (("'http://127.0.0.1:5005/status?token=abc&x=1'",), "uri: 'http://127.0.0.1:5005/status?token=[redacted]&x=1'"),
    (("'http://127.0.0.1:5005/webhooks/rest/webhook'",), "uri: 'http://127.0.0.1:5005/webhooks/rest/webhook'"),
])
def test_the_api_token_is_redacted_from_logged_urls(args, expected):
    record = logging.LogRecord("sanic.error", logging.ERROR, __file__, 1, "uri: %s", args, None)
    assert RedactTokens().filter(record) and record.getMessage() == expected


def test_the_api_token_is_redacted_from_sanic_access_log_records():
    record = logging.LogRecord("sanic.access", logging.INFO, __file__, 1, "", (), None)
    record.request = "GET http://127.0.0.1:5005/conversations/7/tracker?token=s3cret"
    assert RedactTokens().filter(record)
    assert record.request == "GET http://127.0.0.1:5005/conversations/7/tracker?token=[redacted]"
