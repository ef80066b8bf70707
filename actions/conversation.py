"""Conversational turns that need more than a fixed response: a person, yes/no, data deletion."""
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.services import channel_of, escalate, last_bot_metadata, say, yes_no_buttons


def _ask_staff(tracker: Tracker, reason: str, text: str) -> None:
    escalate(
        conversation_id=tracker.sender_id, channel=channel_of(tracker), sender_id=tracker.sender_id,
        level="none", reason=reason, trigger_message=text,
    )


class ActionRequestHuman(Action):
    def name(self) -> Text:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        _ask_staff(tracker, "human_request", (tracker.latest_message or {}).get("text") or "")
        say(dispatcher, "human_requested", label="human")
        return []


class ActionConfirmDeleteData(Action):
    def name(self) -> Text:
        return "action_confirm_delete_data"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        say(dispatcher, "ask_delete_confirm", label="delete_data", buttons=yes_no_buttons(),
            offer="delete_data")
        return []


class ActionHandleYesNo(Action):
    """Yes and no only mean something as the answer to the bot's last offer."""

    def name(self) -> Text:
        return "action_handle_yes_no"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        offer = last_bot_metadata(tracker)
        yes = intent == "affirm"
        if offer.get("offer") == "handoff":
            if yes:
                _ask_staff(tracker, "question", offer.get("question") or "")
                say(dispatcher, "question_passed_on", label="human")
            else:
                say(dispatcher, "ok", label="ok")
            return []
        if offer.get("offer") == "delete_data":
            if yes:
                from actions.privacy import delete_conversation_data

                return await delete_conversation_data(dispatcher, tracker)
            say(dispatcher, "delete_cancelled", label="ok")
            return []
        say(dispatcher, "ok", label="ok")
        return []
