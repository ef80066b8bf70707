"""The details form after an escalation: name, phone or email, treatment date.

All optional: "skip" leaves one out, "stop" ends the form, and the escalation exists already.
A message that is not an answer (a new symptom, a question, a request for a person) is not
taken as one: extraction declines, Rasa rejects the form for that turn, the message is
handled by its own rule, and the form asks again afterwards.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.services import clinic, escalations, say, selector
from bot.config.clinic import details_reply_key
from bot.escalation.details import (SKIPPED, is_phone_number, parse_contact, parse_name,
                                    parse_treatment_date, wants_to_skip, wants_to_stop)

FORM = "escalation_details_form"
SLOTS = ("contact_name", "contact", "treatment_date")
# Intents that are never an answer to "what's your name?".
NOT_ANSWERS = {"report_symptom", "ask_human", "delete_data", "privacy", "bot_identity", "goodbye", "greet"}


def _is_answer(tracker: Tracker) -> bool:
    message = tracker.latest_message or {}
    intent = (message.get("intent") or {})
    name, confidence = intent.get("name"), intent.get("confidence") or 0.0
    if name == "report_symptom":
        return False  # a warning sign during the form goes to triage, always
    if name in NOT_ANSWERS and confidence >= 0.8:
        return False
    text = message.get("text") or ""
    is_question = "?" in text or len(text.split()) > 8
    if name and name.startswith("kb_") and confidence >= selector().config.answer_threshold and is_question:
        return False
    return True


class ValidateEscalationDetailsForm(FormValidationAction):
    def name(self) -> Text:
        return f"validate_{FORM}"

    def _extract(self, slot: str, tracker: Tracker) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != slot or not _is_answer(tracker):
            return {}
        text = (tracker.latest_message or {}).get("text") or ""
        if wants_to_stop(text):
            # Fill what is left so the form completes with what was given.
            return {s: tracker.get_slot(s) or SKIPPED for s in SLOTS}
        return {slot: SKIPPED if wants_to_skip(text) else text}

    async def extract_contact_name(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._extract("contact_name", tracker)

    async def extract_contact(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._extract("contact", tracker)

    async def extract_treatment_date(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._extract("treatment_date", tracker)

    @staticmethod
    def _check(slot: str, value: Any, parser, dispatcher) -> Dict[Text, Any]:
        if value == SKIPPED:
            return {slot: SKIPPED}
        parsed, problem = parser(str(value))
        if problem:
            say(dispatcher, problem, label="details")
            return {slot: None}
        return {slot: parsed}

    def validate_contact_name(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._check("contact_name", value, parse_name, dispatcher)

    def validate_contact(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._check("contact", value, parse_contact, dispatcher)

    def validate_treatment_date(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._check("treatment_date", value, parse_treatment_date, dispatcher)


class _AskFor(Action):
    slot = ""

    def name(self) -> Text:
        return f"action_ask_{self.slot}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        say(dispatcher, f"ask_{self.slot}", label="details")
        return []


class ActionAskContactName(_AskFor):
    slot = "contact_name"


class ActionAskContact(_AskFor):
    slot = "contact"


class ActionAskTreatmentDate(_AskFor):
    slot = "treatment_date"


class ActionSaveEscalationDetails(Action):
    def name(self) -> Text:
        return "action_save_escalation_details"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        given = {s: tracker.get_slot(s) for s in SLOTS}
        given = {k: v for k, v in given.items() if v and v != SKIPPED}
        store = escalations()
        esc = store.open_for(tracker.sender_id)
        if esc is not None and given:
            store.add_details(esc.id, **given)
        stopped = wants_to_stop((tracker.latest_message or {}).get("text") or "")
        if given and not stopped:
            # No escalation found (the database is down): no call back is promised either.
            level = esc.level if esc is not None else None
            key = details_reply_key(clinic(), level, is_phone_number(given.get("contact")))
        else:
            key = "details_stopped"
        say(dispatcher, key, label="details")
        return []


def details_missing(tracker: Tracker) -> Optional[bool]:
    return any(not tracker.get_slot(s) for s in SLOTS)
