"""Start of a conversation: the assistant says what it is before anything else."""
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.services import say
from bot.privacy.carry_over import CARRIED_OVER_SLOTS, within_retention


class ActionSessionStart(Action):
    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        events: List[EventType] = [SessionStarted()]
        recent = within_retention(e.get("timestamp") for e in tracker.events)
        for slot in CARRIED_OVER_SLOTS if recent else ():
            value = tracker.get_slot(slot) if slot in (domain.get("slots") or {}) else None
            if value is not None:
                events.append(SlotSet(slot, value))
        say(dispatcher, "disclaimer", label="disclaimer")
        events.append(ActionExecuted("action_listen"))
        return events
