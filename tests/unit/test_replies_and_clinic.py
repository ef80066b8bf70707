"""Patient-facing texts have every value they need; clinic hours decide the urgent promise."""
import datetime as dt

import pytest

from bot.config.clinic import load_clinic
from bot.replies import load_replies


def test_every_reply_renders_with_the_clinic_values():
    clinic = load_clinic()
    values = {"emergency_number": clinic.emergency_number, "clinic_contact": clinic.contact,
              "out_of_hours_contact": clinic.out_of_hours_contact,
              "callback_minutes": clinic.urgent_callback_minutes}
    replies = load_replies()
    for key in replies.keys():
        text = replies(key, **values)
        assert "{" not in text and text.strip()


def test_emergency_reply_puts_the_number_first():
    text = load_replies()("triage_emergency", emergency_number="112")
    assert text.startswith("Call 112 now")


def test_missing_value_names_the_reply():
    with pytest.raises(KeyError, match="triage_emergency"):
        load_replies()("triage_emergency")


def test_clinic_hours(tmp_path):
    p = tmp_path / "clinic.yml"
    p.write_text('timezone: UTC\nhours: {mon: "09:00-17:00"}\nurgent_callback_minutes: 30\n'
                 'safety_net_minutes: 20\n')
    clinic = load_clinic(p)
    monday_10 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)
    assert clinic.is_open(monday_10)
    assert not clinic.is_open(monday_10.replace(hour=17))
    assert not clinic.is_open(monday_10 + dt.timedelta(days=1))  # Tuesday: closed


def test_clinic_file_is_strict(tmp_path):
    p = tmp_path / "clinic.yml"
    p.write_text('hours: {monday: "09:00-17:00"}\nurgent_callback_minutes: 30\nsafety_net_minutes: 20\n')
    with pytest.raises(ValueError, match="monday"):
        load_clinic(p)


def test_contacts_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CLINIC_EMERGENCY_NUMBER", "112")
    monkeypatch.setenv("CLINIC_CONTACT", "+44 20 0000 0000")
    clinic = load_clinic()
    assert clinic.emergency_number == "112" and clinic.contact == "+44 20 0000 0000"


# ------------------------------------------------- the urgent reply promises only a kept call

def open_monday_to_friday(tmp_path):
    p = tmp_path / "clinic.yml"
    p.write_text('timezone: Europe/London\nhours: {mon: "09:00-17:00", fri: "00:00-24:00"}\n'
                 'urgent_callback_minutes: 30\nsafety_net_minutes: 20\ncontact: "+44 20 7946 0000"\n'
                 'out_of_hours_contact: "+44 20 7946 0999"\n')
    return load_clinic(p)


MONDAY_10 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)  # 10:00 in London too
SUNDAY_10 = MONDAY_10 - dt.timedelta(days=1)


@pytest.mark.parametrize("channel, contact, reachable", [
    ("telegram", None, True),  # staff can message the patient back there
    ("webchat", "+447700900123", True),  # a phone number, as the details form keeps it
    ("webchat", None, False),
    ("webchat", "skipped", False),
    ("webchat", "maria@example.org", False),  # an email is no way to reach someone within minutes
    ("eval", None, False),
])
def test_staff_can_reach_the_patient_on_telegram_or_by_a_phone_number(channel, contact, reachable):
    from bot.escalation.details import parse_contact, staff_can_reach

    assert staff_can_reach(channel, contact) is reachable
    phone, _ = parse_contact("call me on +44 (7700) 900-123")
    assert staff_can_reach("webchat", phone)


def test_the_urgent_reply_promises_contact_only_when_open_and_reachable(tmp_path):
    from bot.config.clinic import urgent_reply_key

    clinic = open_monday_to_friday(tmp_path)
    assert urgent_reply_key(clinic, staff_can_reach=True, now=MONDAY_10) == "triage_urgent_open"
    assert urgent_reply_key(clinic, staff_can_reach=False, now=MONDAY_10) == "triage_urgent_open_call_us"
    assert urgent_reply_key(clinic, staff_can_reach=True, now=SUNDAY_10) == "triage_urgent_closed"
    assert urgent_reply_key(clinic, staff_can_reach=False, now=SUNDAY_10) == "triage_urgent_closed"


def test_the_urgent_texts_promise_only_where_they_may(tmp_path):
    """What each urgent text tells the patient: the promise, or whom to call now."""
    from bot.config.clinic import reply_values

    clinic = open_monday_to_friday(tmp_path)
    say = lambda key: load_replies()(key, **reply_values(clinic))  # noqa: E731
    promise = "A nurse will get in touch with you within 30 minutes"
    assert promise in say("triage_urgent_open")
    call_us = say("triage_urgent_open_call_us")
    assert "will get in touch" not in call_us and "will call you" not in call_us
    assert "please call the clinic now on +44 20 7946 0000" in call_us and "leave me a phone number" in call_us
    closed = say("triage_urgent_closed")
    assert "will get in touch" not in closed and "please call +44 20 7946 0999 now" in closed
    for key in ("triage_urgent_open", "triage_urgent_open_call_us", "triage_urgent_closed"):
        assert "alerted the clinic's staff" in say(key) and "call 911 or your local" in say(key)


def test_a_phone_number_given_after_an_urgent_report_gets_the_call_back_confirmed(tmp_path):
    from bot.config.clinic import details_reply_key, reply_values

    clinic = open_monday_to_friday(tmp_path)
    assert details_reply_key(clinic, "urgent", phone_given=True, now=MONDAY_10) == "details_saved_call_back"
    assert details_reply_key(clinic, "urgent", phone_given=False, now=MONDAY_10) == "details_saved"
    assert details_reply_key(clinic, "urgent", phone_given=True, now=SUNDAY_10) == "details_saved"
    # An emergency is told to call the emergency number, never to wait for a call.
    assert details_reply_key(clinic, "emergency", phone_given=True, now=MONDAY_10) == "details_saved"
    assert details_reply_key(clinic, None, phone_given=True, now=MONDAY_10) == "details_saved"  # no escalation
    text = load_replies()("details_saved_call_back", **reply_values(clinic))
    assert "a nurse will call you on that number within 30 minutes" in text


def test_hours_can_run_to_the_end_of_the_day_and_bad_ones_name_the_day(tmp_path):
    clinic = open_monday_to_friday(tmp_path)
    friday = MONDAY_10 + dt.timedelta(days=4)
    assert clinic.is_open(friday.replace(hour=0, minute=0)) and clinic.is_open(friday.replace(hour=23, minute=59))
    p = tmp_path / "bad.yml"
    p.write_text('hours: {tue: "09:00-25:00"}\nurgent_callback_minutes: 30\nsafety_net_minutes: 20\n')
    with pytest.raises(ValueError, match="'tue: 09:00-25:00' must be"):
        load_clinic(p)
