"""Conversations with the real assistant: trained model, triage, action server, SQLite."""
import pytest
from sqlalchemy import select

from bot.knowledge import store
from bot.storage.db import transaction
from bot.storage.models import Escalation, ServedAnswer, UnansweredQuestion

pytestmark = pytest.mark.slow


def rows(assistant, model, **where):
    with transaction(assistant.url) as s:
        q = select(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return list(s.scalars(q))


def test_first_message_starts_with_the_disclaimer_then_the_answer(assistant, sender, kb):
    out = assistant.say(sender, "what are the side effects of exosome pro?")
    assert out.metadata[0]["label"] == "disclaimer"
    assert "automated assistant" in out.replies[0] and "not a doctor" in out.replies[0]
    # Development serves an unsigned entry's latest version: here issue 15's proposed wording.
    assert out.replies[1] == store.get_entry(assistant.url, "side_effects").latest.answer
    second = assistant.say(sender, "thank you")
    assert all(md.get("label") != "disclaimer" for md in second.metadata)


def test_served_answer_is_logged_with_entry_and_version(assistant, sender, kb):
    out = assistant.say(sender, "Can I take ibuprofen after my treatment?")
    entry = kb.get("aftercare_nsaids")
    assert out.entries == ["aftercare_nsaids"]
    md = next(m for m in out.metadata if m.get("kb_entry"))
    assert md["kb_version"] == entry.version
    logged = rows(assistant, ServedAnswer, conversation_id=sender)
    assert [(r.entry_id, r.entry_version, r.channel) for r in logged] == [("aftercare_nsaids", entry.version, "eval")]


@pytest.mark.parametrize("question", [
    "how much does the treatment cost?",
    "what time do you open on sundays",
    "can you write me a poem about my bald spot",
])
def test_unanswerable_question_is_answered_honestly_and_recorded(assistant, sender, question):
    out = assistant.say(sender, question)
    assert out.entries == [] and out.answer == "none"
    assert any("don't have a reviewed answer" in r for r in out.replies)
    assert any(b["payload"] == "yes" for group in out.buttons for b in group)  # offer to pass it on
    recorded = rows(assistant, UnansweredQuestion, conversation_id=sender)
    assert [(r.text, r.channel) for r in recorded] == [(question, "eval")]


def test_yes_after_the_offer_passes_the_question_to_staff(assistant, sender):
    assistant.say(sender, "is the treatment covered by my health insurance?")
    out = assistant.say(sender, "yes please")
    assert out.answer == "human"
    [esc] = rows(assistant, Escalation, conversation_id=sender)
    assert (esc.reason, esc.level, esc.trigger_message) == (
        "question", "none", "is the treatment covered by my health insurance?")


def test_no_after_the_offer_passes_nothing(assistant, sender):
    assistant.say(sender, "what's your address")
    assistant.say(sender, "no thanks")
    assert rows(assistant, Escalation, conversation_id=sender) == []


def test_follow_up_resolves_against_the_previous_topic(assistant, sender):
    assistant.say(sender, "Is it ok to take aspirin after the injections?")
    out = assistant.say(sender, "for how long?")
    assert out.entries == ["aftercare_nsaids"]


def test_follow_up_without_a_topic_asks_for_more(assistant, sender):
    out = assistant.say(sender, "how long does that last?")
    assert out.entries == [] and out.answer == "none"


@pytest.mark.parametrize("text, label", [
    ("hello", "greeting"), ("bye for now", "goodbye"), ("thanks so much", "thanks"),
    ("am I talking to a robot?", "bot_identity"), ("I want to speak to a human", "human"),
    ("what happens to my data?", "privacy"),
])
def test_conversational_turns(assistant, sender, text, label):
    assert assistant.say(sender, text).answer == label


def test_asking_for_a_person_reaches_staff(assistant, sender):
    assistant.say(sender, "can a real person call me back please")
    [esc] = rows(assistant, Escalation, conversation_id=sender)
    assert esc.reason == "human_request" and esc.status == "open"


def test_delete_data_asks_first_then_deletes(assistant, sender):
    assistant.say(sender, "how much does it cost?")
    ask = assistant.say(sender, "please delete my data")
    assert ask.answer == "delete_data" and any(b["payload"] == "yes" for g in ask.buttons for b in g)
    assert rows(assistant, UnansweredQuestion, conversation_id=sender)  # nothing deleted yet
    done = assistant.say(sender, "yes")
    assert done.answer == "delete_data"
    assert rows(assistant, UnansweredQuestion, conversation_id=sender) == []
    from bot.storage.models import DataDeletion

    assert [d.conversation_id for d in rows(assistant, DataDeletion, conversation_id=sender)] == [sender]
    # Saving the turn after the deletion does not write the deleted messages back.
    from bot.storage.rasa_events import transcript

    kept = [m["text"] for m in transcript(assistant.url, sender)]
    assert "how much does it cost?" not in kept and "please delete my data" not in kept


def test_delete_data_cancelled_keeps_everything(assistant, sender):
    assistant.say(sender, "how much does it cost?")
    assistant.say(sender, "delete my data")
    assistant.say(sender, "no")
    assert rows(assistant, UnansweredQuestion, conversation_id=sender)


def test_low_confidence_offers_choices_not_an_answer(assistant, sender, kb):
    # Vague: neither DIET nor the encoder is sure, the candidacy entry is plausible. (A vague
    # message both signals agree on, like "hair thing stuff?", is answered: tests/unit/test_serving.py
    # has the decision rules; this checks the whole path renders the choices.)
    out = assistant.say(sender, "is this for people like me")
    assert out.entries == [] and out.answer == "none"
    # No vetted answer's text reaches the patient (whatever the metadata says) ...
    assert not {e.answer for e in kb} & set(out.replies), out.replies
    # ... they are asked which entry they meant, one button per entry, and a way to a person.
    choices = [buttons for buttons, md in zip(out.buttons, out.metadata) if md.get("label") == "did_you_mean"]
    assert len(choices) == 1, out.metadata
    offered = [b["title"] for b in choices[0]]
    titles = {e.title for e in kb}
    assert offered[:1] == [kb.get("candidacy").title], offered
    assert set(offered[1:-1]) <= titles and offered[-1].startswith("None of these"), offered


def test_clicking_a_suggestion_serves_that_entry(assistant, sender, kb):
    entry = kb.get("scalp_massage")
    out = assistant.say(sender, entry.title)  # a suggestion button's payload
    assert out.entries == ["scalp_massage"]


def test_broken_input_gets_a_polite_reply(assistant, sender):
    for text in ["", "   ", "\x00\x07\x1b", "🙂" * 50, "x" * 20000, "<script>alert(1)</script>"]:
        out = assistant.say(sender, text)
        assert out.replies, repr(text[:20])
