"""Serve vetted knowledge-base answers, or say honestly that there is none."""
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.services import (channel_of, knowledge, knowledge_log, say,
                              user_turns_since_entry, yes_no_buttons)
from bot.replies import replies
from bot.knowledge.entry import KnowledgeEntry
from bot.knowledge.live import Snapshot
from bot.knowledge.serving import Decision

LAST_ENTRY_SLOT = "kb_last_entry"


class ActionAnswerQuestion(Action):
    def name(self) -> Text:
        return "action_answer_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        message = tracker.latest_message or {}
        text = message.get("text") or ""
        snapshot = knowledge()
        sel = snapshot.selector
        last = tracker.get_slot(LAST_ENTRY_SLOT)
        turns = user_turns_since_entry(tracker, last)
        if turns is None or turns > sel.config.follow_up_window:
            last = None
        decision = sel.decide(text, message.get("intent_ranking") or [], last_entry_id=last,
                              semantic=message.get("semantic_answer"))
        return serve(dispatcher, tracker, decision, text, snapshot)


def send_entry(dispatcher: CollectingDispatcher, tracker: Tracker, entry: Optional[KnowledgeEntry],
               how: str, confidence: Optional[float] = None, snapshot: Optional[Snapshot] = None,
               **metadata: Any) -> List[EventType]:
    """Send a vetted answer, logging which text (id + content hash + version) the patient saw.
    Nothing is sent for an entry that is not servable now (retired, or never published in
    production): callers that must say so use serve()."""
    snapshot = snapshot or knowledge()
    served = snapshot.version_of(entry) if entry is not None else None
    if served is None:
        return []
    entry = snapshot.kb.get(entry.id)  # the text as published now, whoever decided on it
    knowledge_log().record_served(tracker.sender_id, channel_of(tracker), entry.id, entry.version,
                                  how, confidence, version_id=served.version_id)
    dispatcher.utter_message(text=entry.answer, label="knowledge", kb_entry=entry.id,
                             kb_topic=entry.topic, kb_version=entry.version,
                             kb_version_number=served.number, kb_how=how, **metadata)
    return [SlotSet(LAST_ENTRY_SLOT, entry.id)]


def entry_buttons(entries) -> List[Dict[str, str]]:
    """One button per entry. The title is the payload: short enough for Telegram's 64-byte
    button data, and the selector matches it exactly, so a tap gets that entry's text."""
    return [{"title": e.title, "payload": e.title} for e in entries]


def serve(dispatcher: CollectingDispatcher, tracker: Tracker, decision: Decision,
          text: str, snapshot: Optional[Snapshot] = None) -> List[EventType]:
    """Send the reply for a decision: the answer, suggestions, or the honest no-answer."""
    snapshot = snapshot or knowledge()
    if decision.kind == "answer" and not snapshot.servable(decision.entry):
        # Production, and nobody has signed this entry yet: there is no reviewed answer.
        decision = Decision("no_answer", how="unpublished", confidence=decision.confidence,
                            best_guess=decision.entry.intent)
    if decision.kind == "answer":
        events = send_entry(dispatcher, tracker, decision.entry, decision.how, decision.confidence, snapshot)
        if decision.also is not None:
            # "How long until results? And can I drink after?": both questions get their answer.
            events += send_entry(dispatcher, tracker, decision.also, "second_question", snapshot=snapshot)
        return events
    # Only published entries are offered as buttons (a click must lead to an answer).
    suggestions = tuple(e for e in decision.suggestions if snapshot.servable(e))
    if decision.kind == "suggest" and not suggestions:
        decision = Decision("no_answer", how="unpublished", confidence=decision.confidence,
                            best_guess=decision.best_guess)

    knowledge_log().record_unanswered(tracker.sender_id, channel_of(tracker), text, decision.how,
                                      decision.best_guess, decision.confidence)
    if decision.kind == "suggest":
        buttons = entry_buttons(suggestions)
        buttons.append({"title": replies()("did_you_mean_none"), "payload": "I want to ask a person"})
        say(dispatcher, "did_you_mean", label="did_you_mean", buttons=buttons)
        return []
    nearby = [e for e in decision.nearby if snapshot.servable(e)]
    if decision.how == "follow_up_without_topic":
        say(dispatcher, "follow_up_unclear", label="none",
            buttons=entry_buttons(nearby) or None)
        return []
    if nearby:
        # Still the honest no-answer and the same offer (yes/no answer it); a tap on a title
        # is an exact question and gets that entry's reviewed text.
        buttons = entry_buttons(nearby) + yes_no_buttons()
        say(dispatcher, "no_vetted_answer_nearby", label="none", buttons=buttons, offer="handoff",
            question=text[:500])
        return []
    say(dispatcher, "no_vetted_answer", label="none", buttons=yes_no_buttons(), offer="handoff",
        question=text[:500])
    return []
