"""Patient-facing texts have every value they need; clinic hours decide the urgent promise."""
import datetime as dt

import pytest

from bot.clinic import load_clinic
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
