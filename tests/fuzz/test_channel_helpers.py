"""Fuzz of the small parsers that read untrusted input outside the triage engine: the details
form (name, phone or email, treatment date), the treatment timing, Telegram's reply
splitting, the Telegram update check and the action server's call check. Anything in, a
well-formed answer out, never an exception."""
from __future__ import annotations

import datetime as dt
import json

from hypothesis import given
from hypothesis import strategies as st

from bot.rasa_ext.safety.action_webhook import problem_with
from bot.channels.telegram import valid_update
from bot.channels.telegram_output import TELEGRAM_LIMIT, split_text
from bot.escalation import details
from bot.triage.timing import days_since_treatment
from tests.fuzz.strategies import any_char, fuzz_settings, json_value, message_text, raw_body

REASONS = {"name_empty", "name_invalid", "contact_invalid", "contact_too_long", "date_invalid", "date_future", "date_too_old"}
dates_and_numbers = st.one_of(message_text, st.from_regex(
    r"\A(day \d{1,4}|\d{1,4}[/.-]\d{1,4}[/.-]\d{1,6}|\d{1,3} (days|weeks) ago|[+]?[\d ()-]{0,24}|"
    r"\d{1,2}(st|nd|rd|th)? of [a-z]{3,9}|[a-z]{3,9} \d{1,2})\Z"))


@fuzz_settings(200)
@given(dates_and_numbers)
def test_details_parsers_answer_a_value_or_a_known_reason(text):
    today = dt.date(2025, 3, 1)
    for value, reason in (details.parse_name(text), details.parse_contact(text),
                          details.parse_treatment_date(text, today)):
        assert (value is None) != (reason is None)
        assert reason is None or reason in REASONS
        assert value is None or len(value) <= 255  # fits its column (bot/storage/models.py)
    date, _ = details.parse_treatment_date(text, today)
    if date is not None:
        assert dt.date.fromisoformat(date) <= today  # never a date in the future
    details.wants_to_skip(text), details.wants_to_stop(text)


@fuzz_settings(200)
@given(dates_and_numbers)
def test_treatment_timing_is_a_sane_number_of_days(text):
    days = days_since_treatment(text)
    assert days is None or (isinstance(days, int) and 0 <= days <= 999 * 7)


@fuzz_settings(200)
@given(st.lists(st.one_of(st.text(any_char, max_size=40), st.sampled_from([" ", "\n", "\n\n"])),
                max_size=300).map("".join),
       st.integers(1, TELEGRAM_LIMIT))
def test_telegram_splitting_loses_nothing_and_respects_the_limit(text, limit):
    parts = split_text(text, limit)
    assert all(0 < len(p) <= limit for p in parts)
    # Every character but the whitespace at the cuts arrives, in order.
    assert "".join("".join(parts).split()) == "".join(text.split())


@fuzz_settings(200)
@given(st.one_of(json_value.map(lambda v: json.dumps(v).encode()), raw_body,
                 json_value.map(lambda v: json.dumps({"update_id": 1, "message": v}).encode())))
def test_telegram_update_check_never_raises_and_passes_only_readable_updates(body):
    from telegram import Update

    data = valid_update(body)
    if data is not None:
        assert type(data["update_id"]) is int
        Update.de_json(json.loads(json.dumps(data)), None)  # what the webhook will read


@fuzz_settings(200)
@given(json_value)
def test_action_call_check_never_raises(call):
    problem = problem_with(call)
    assert problem is None or isinstance(problem, str)
    if not isinstance(call, dict):
        assert problem is not None
