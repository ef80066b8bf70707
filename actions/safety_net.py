"""Run by the worker through Rasa's API when staff have not acknowledged an alert in time."""
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.services import say


class ActionSafetyNet(Action):
    def name(self) -> Text:
        return "action_safety_net"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        say(dispatcher, "safety_net", label="safety_net")
        return []
