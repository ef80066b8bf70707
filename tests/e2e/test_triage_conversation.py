"""Symptom reports through the real assistant: level, escalation record, replies."""
import json

import pytest
from sqlalchemy import select

from bot.storage.db import transaction
from bot.storage.models import Escalation, EscalationEvent

pytestmark = pytest.mark.slow


def escalations(assistant, sender):
    with transaction(assistant.url) as s:
        return list(s.scalars(select(Escalation).where(Escalation.conversation_id == sender)))


def test_emergency_says_call_now_first_and_escalates(assistant, sender):
    out = assistant.say(sender, "had my injections an hour ago and now my throat is closing up")
    assert out.triage == "emergency" and out.escalated
    first_after_disclaimer = [r for r, md in zip(out.replies, out.metadata) if md.get("label") != "disclaimer"][0]
    assert first_after_disclaimer.startswith("Call ")
    [esc] = escalations(assistant, sender)
    assert esc.level == "emergency" and esc.reason == "symptoms"
    assert "throat is closing" in esc.trigger_message


def test_urgent_is_escalated_with_spans_and_vetted_advice(assistant, sender, kb):
    text = "had the treatment 2 days ago and there is pus where they injected"
    out = assistant.say(sender, text)
    assert out.triage == "urgent" and out.escalated
    assert "when_to_report" in out.entries
    assert any("alerted the clinic's staff" in r for r in out.replies)
    [esc] = escalations(assistant, sender)
    spans = json.loads(esc.symptoms)
    assert any(text[s["start"]:s["end"]] == s["text"] and s["label"] == "PUS_OR_DISCHARGE" for s in spans)


def test_routine_reassures_with_side_effects_and_does_not_escalate(assistant, sender):
    out = assistant.say(sender, "my session was yesterday and my scalp is a little pink")
    assert out.triage == "routine" and not out.escalated
    assert out.entries[0] == "side_effects"
    # Then the guided red-flag check, as buttons (triage/guided_check.yml).
    from bot.triage.guided_check import guided_check

    assert any("do you have any of these right now" in r for r in out.replies)
    assert [b["title"] for b in out.buttons[-1]] == [b["title"] for b in guided_check().buttons()]
    assert escalations(assistant, sender) == []
    after = assistant.say(sender, guided_check().none_answer)
    assert any("Contact the clinic straight away" in r for r in after.replies) and not after.escalated


def test_second_warning_sign_updates_the_same_escalation_and_raises_it(assistant, sender):
    assistant.say(sender, "I had the injections yesterday and I have a fever")
    out = assistant.say(sender, "now my lips are swelling up")
    assert out.triage == "emergency" and out.escalated
    [esc] = escalations(assistant, sender)
    assert esc.level == "emergency"
    with transaction(assistant.url) as s:
        actions = [a for (a,) in s.execute(select(EscalationEvent.action)
                                           .where(EscalationEvent.escalation_id == esc.id)
                                           .order_by(EscalationEvent.id))]
    assert actions == ["raised", "level_raised"]


def test_earlier_treatment_date_makes_later_words_more_serious(assistant, sender):
    assistant.say(sender, "I had my treatment 8 days ago and it's a bit swollen")
    out = assistant.say(sender, "it's still a bit swollen")
    assert out.triage == "urgent" and out.escalated


def test_hypothetical_question_is_answered_not_escalated(assistant, sender):
    out = assistant.say(sender, "what should I do if I get a temperature after the injections?")
    assert out.triage == "none" and not out.escalated
    assert out.entries == ["when_to_report"]


def test_denied_symptoms_do_not_turn_a_question_into_side_effects(assistant, sender, kb):
    out = assistant.say(sender, "Treatment was 3 days ago, no swelling, no redness at all. when will my hair grow?")
    assert out.triage == "none" and not out.escalated
    assert "side_effects" not in out.entries
    offered = [b["title"] for group in out.buttons for b in group]
    assert out.entries == ["results_timeline"] or offered[0] == kb.get("results_timeline").title


def test_denied_symptoms_with_a_clear_question_get_its_answer(assistant, sender):
    out = assistant.say(sender, "no fever and no pain since my session, all good. is a glass of wine ok tonight?")
    assert out.triage == "none" and not out.escalated
    assert out.entries == ["aftercare_smoking_alcohol"]


def test_classifier_cannot_talk_a_warning_sign_away(assistant, sender):
    out = assistant.say(sender, "hello! quick one: there's yellow stuff oozing from the injection spots")
    assert out.parse_data["intent"] == {"name": "report_symptom", "confidence": 1.0}
    assert out.parse_data["triage"]["classifier_intent"].get("name")  # the classifier's guess, kept
    assert out.triage == "urgent" and out.escalated


def test_the_triage_component_overrules_a_confident_classifier():
    """Whatever DIET says (here: a confident knowledge intent), a warning sign decides the
    intent, and the classifier's guess is kept for staff."""
    from rasa.shared.nlu.training_data.message import Message

    from bot.triage.component import SymptomTriage

    guess = {"name": "kb_results_timeline", "confidence": 0.99}
    message = Message(data={"text": "when will I see results? also yellow pus is leaking from the spots",
                            "intent": guess})
    SymptomTriage({}).process([message])
    assert message.get("intent") == {"name": "report_symptom", "confidence": 1.0}
    assert message.get("triage")["classifier_intent"] == guess and message.get("triage")["level"] == "urgent"
    calm = Message(data={"text": "when will I see results?", "intent": dict(guess)})
    SymptomTriage({}).process([calm])
    assert calm.get("intent") == guess  # no sign: the classifier's intent stands


def test_an_urgent_statement_gets_no_guessed_knowledge_entry(assistant, sender):
    # Issue 14: no question in the message, so nothing but the safety reply and when to report.
    out = assistant.say(sender, "had the injections on monday, there is yellow pus on my scalp and I feel hot")
    assert out.triage == "urgent" and out.escalated
    assert out.entries == ["when_to_report"]
