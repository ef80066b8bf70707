"""The details form after an escalation: validated, optional, and never in triage's way."""
import pytest
from sqlalchemy import select

from bot.storage.db import transaction
from bot.storage.models import Escalation

pytestmark = pytest.mark.slow
URGENT = "had my injections 2 days ago and now I've got a fever"


def escalation(assistant, sender):
    with transaction(assistant.url) as s:
        return s.scalars(select(Escalation).where(Escalation.conversation_id == sender)).one()


def labels(out):
    return [md.get("label") for md in out.metadata]


def test_details_are_asked_validated_and_saved(assistant, sender):
    first = assistant.say(sender, URGENT)
    assert first.escalated and "what's your name" in first.replies[-1]
    assert "phone number or email" in assistant.say(sender, "Maria Lopez").replies[-1]
    bad = assistant.say(sender, "call me maybe")
    assert "couldn't read that as a phone number" in " ".join(bad.replies)
    done = assistant.say(sender, "+44 7700 900123")
    # The treatment date was in the first message, so it is not asked again.
    assert "added this to your report" in done.replies[-1]
    esc = escalation(assistant, sender)
    assert (esc.contact_name, esc.contact) == ("Maria Lopez", "+447700900123")
    assert esc.treatment_date is not None


def test_a_future_date_is_refused(assistant, sender):
    assistant.say(sender, "there's pus coming out of the injection spots")
    assistant.say(sender, "skip")
    out = assistant.say(sender, "me@example.org")
    assert "When was your treatment" in out.replies[-1]
    assert "in the future" in " ".join(assistant.say(sender, "2999-01-01").replies)
    assert "added this to your report" in assistant.say(sender, "yesterday").replies[-1]
    esc = escalation(assistant, sender)
    assert esc.contact == "me@example.org" and esc.contact_name is None


def test_stop_ends_the_form_and_the_escalation_stays(assistant, sender):
    assistant.say(sender, URGENT)
    out = assistant.say(sender, "stop")
    assert "already have your report" in out.replies[-1]
    assert escalation(assistant, sender).status == "open"


def test_a_new_warning_sign_during_the_form_is_triaged_first(assistant, sender):
    assistant.say(sender, URGENT)
    out = assistant.say(sender, "now my lips are swelling and I can't breathe")
    assert out.triage == "emergency" and out.escalated
    assert out.replies[0].startswith("Call ")
    assert escalation(assistant, sender).level == "emergency"
    assert escalation(assistant, sender).contact_name is None  # not taken as a name


def test_a_question_during_the_form_is_answered_then_the_form_goes_on(assistant, sender):
    assistant.say(sender, URGENT)
    out = assistant.say(sender, "is smoking ok after the treatment?")
    assert out.entries == ["aftercare_smoking_alcohol"]
    assert "what's your name" in out.replies[-1]
    assert escalation(assistant, sender).contact_name is None


def test_a_question_with_a_warning_sign_gets_both(assistant, sender):
    out = assistant.say(sender, "I have a fever since my injections yesterday, can I take ibuprofen?")
    assert out.triage == "urgent" and out.escalated
    assert out.entries[0] == "when_to_report" and "aftercare_nsaids" in out.entries
