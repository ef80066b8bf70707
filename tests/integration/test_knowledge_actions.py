"""The action that answers knowledge questions, run as the action server runs it, over a real
database: in production an entry nobody signed is not served (the honest no-answer, recorded
for curation); once signed it is, from the next message, and the served-answer log names the
exact version; retired entries are not offered as suggestions."""
import asyncio
import re

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from bot.config import paths
from bot.knowledge import store
from bot.knowledge.serving import Decision
from bot.storage.db import transaction
from bot.storage.models import ServedAnswer, UnansweredQuestion


@pytest.fixture
def actions_on(tmp_path, monkeypatch):
    """The action server's shared objects, pointed at a fresh SQLite file."""
    from actions import services

    caches = (services.settings, services.live_knowledge, services.knowledge_log, services.clinic)

    def use(production: bool):
        url = f"sqlite:///{tmp_path / 'actions.db'}"
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("CLINIC_ENV", "production" if production else "development")
        # Production refuses clinic.yml's placeholders: a clinic file with them filled in.
        clinic = tmp_path / "clinic.yml"
        clinic.write_text(re.sub(r'"<([^>]*)>"', r'"\1"', (paths.ROOT / "clinic.yml").read_text()))
        monkeypatch.setenv("CLINIC_FILE", str(clinic))
        for cached in caches:
            cached.cache_clear()
        return url

    yield use
    for cached in caches:
        cached.cache_clear()


def run_answer(text, sender="patient-1"):
    from actions.knowledge import ActionAnswerQuestion

    tracker = Tracker(sender, {}, {"text": text, "intent_ranking": []}, [], False, None, {}, "webchat")
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAnswerQuestion().run(dispatcher, tracker, {}))
    return dispatcher.messages


def test_production_says_there_is_no_reviewed_answer_until_an_entry_is_signed(actions_on, kb):
    url = actions_on(production=True)
    entry = kb.get("dandruff")
    messages = run_answer(entry.questions[0])
    assert entry.answer not in [m["text"] for m in messages]
    assert "don't have a reviewed answer" in messages[0]["text"]
    with transaction(url) as s:
        reasons = [r.reason for r in s.scalars(select(UnansweredQuestion))]
    assert reasons == ["unpublished"]

    version = store.get_entry(url, "dandruff").latest
    store.sign(url, version.id, "dr_lee", "clinician")
    messages = run_answer(entry.questions[0])
    assert messages[0]["text"] == entry.answer
    assert messages[0]["kb_version_number"] == 1
    with transaction(url) as s:
        served = s.scalars(select(ServedAnswer)).one()
    assert served.knowledge_version_id == version.id and served.entry_version == messages[0]["kb_version"]


def test_development_serves_unsigned_entries_and_a_published_edit_at_the_next_message(actions_on, kb):
    url = actions_on(production=False)
    entry = kb.get("dandruff")
    assert run_answer(entry.questions[0])[0]["text"] == entry.answer
    v1 = store.get_entry(url, "dandruff").latest
    store.sign(url, v1.id, "dr_lee", "clinician")
    edited = entry.answer + " Ask us which shampoo suits you."
    v2 = store.save(url, "dandruff", "nurse_ana", {"title": v1.title, "questions": list(v1.questions),
                                                   "answer": edited, "source": list(v1.source)}, base=1)
    assert run_answer(entry.questions[0])[0]["text"] == entry.answer  # saved, not signed
    store.sign(url, v2.id, "dr_lee", "clinician")
    assert run_answer(entry.questions[0])[0]["text"] == edited


def test_suggestions_offer_only_servable_entries(actions_on, kb):
    from actions.knowledge import serve
    from actions.services import knowledge

    url = actions_on(production=True)
    snapshot = knowledge()
    published = store.get_entry(url, "nutrition").latest
    store.sign(url, published.id, "dr_lee", "clinician")
    snapshot = knowledge()
    suggest = Decision("suggest", how="low_confidence", confidence=0.3,
                       suggestions=(snapshot.kb.get("dandruff"), snapshot.kb.get("nutrition")))
    tracker = Tracker("p2", {}, {"text": "hair stuff?"}, [], False, None, {}, "webchat")
    dispatcher = CollectingDispatcher()
    serve(dispatcher, tracker, suggest, "hair stuff?", snapshot)
    titles = [b["title"] for b in dispatcher.messages[0]["buttons"]]
    assert kb.get("nutrition").title in titles and kb.get("dandruff").title not in titles


def run_triage(level, text, sender="patient-2"):
    from actions.triage import ActionTriageResponse

    message = {"text": text, "intent": {"name": "report_symptom"}, "intent_ranking": [],
               "triage": {"level": level, "findings": []}}
    tracker = Tracker(sender, {}, message, [], False, None, {}, "telegram")
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionTriageResponse().run(dispatcher, tracker, {}))
    return dispatcher.messages


@pytest.mark.parametrize("level, entry_id", [("urgent", "when_to_report"), ("routine", "side_effects")])
def test_triage_still_says_which_signs_need_a_call_before_anything_is_signed(actions_on, kb, level, entry_id):
    """Production with nothing signed: the safety advice a triage reply quotes from the
    knowledge base is not served, so the fixed watch-signs text takes its place."""
    actions_on(production=True)
    texts = [m["text"] for m in run_triage(level, "my scalp is sore since the injections yesterday")]
    assert kb.get(entry_id).answer not in texts
    assert any("Contact the clinic straight away if you notice a fever" in t for t in texts), texts


def test_an_unsure_no_answer_offers_the_nearest_entries_beside_the_offer_to_ask_staff(actions_on, kb):
    """The honest no-answer stays (nothing served, recorded for curation); the nearest entries
    come as buttons, a tap on one is that entry's reviewed text, and yes still passes the
    question on."""
    from actions.knowledge import serve
    from actions.services import knowledge

    url = actions_on(production=False)
    snapshot = knowledge()
    nearby = (snapshot.kb.get("side_effects"), snapshot.kb.get("when_to_report"))
    decision = Decision("no_answer", how="low_confidence", confidence=0.1, best_guess="nlu_fallback",
                        nearby=nearby)
    tracker = Tracker("p3", {}, {"text": "sidefx?"}, [], False, None, {}, "webchat")
    dispatcher = CollectingDispatcher()
    assert serve(dispatcher, tracker, decision, "sidefx?", snapshot) == []
    [message] = dispatcher.messages
    assert "don't have a reviewed answer" in message["text"]
    assert message["offer"] == "handoff" and message["question"] == "sidefx?"
    assert [b["payload"] for b in message["buttons"]] == [e.title for e in nearby] + ["yes", "no"]
    assert all(e.answer not in message["text"] for e in nearby)
    with transaction(url) as s:
        assert [r.reason for r in s.scalars(select(UnansweredQuestion))] == ["low_confidence"]
        assert s.scalars(select(ServedAnswer)).all() == []
    tapped = run_answer(message["buttons"][0]["payload"], sender="p3")
    # Development serves an unsigned entry's latest version: here issue 15's proposal.
    assert tapped[0]["text"] == nearby[0].answer == store.get_entry(url, "side_effects").latest.answer


def test_without_servable_nearby_entries_the_plain_no_answer_is_sent(actions_on, kb):
    from actions.knowledge import serve
    from actions.services import knowledge

    actions_on(production=True)  # nothing signed: nothing may be offered
    snapshot = knowledge()
    decision = Decision("no_answer", how="low_confidence", nearby=(snapshot.kb.get("side_effects"),))
    dispatcher = CollectingDispatcher()
    serve(dispatcher, Tracker("p4", {}, {"text": "sidefx?"}, [], False, None, {}, "webchat"),
          decision, "sidefx?", snapshot)
    [message] = dispatcher.messages
    assert [b["payload"] for b in message["buttons"]] == ["yes", "no"]
