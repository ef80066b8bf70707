"""Start of a conversation: the assistant says what it is before anything else."""
import time
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.services import say

# Slots that describe the patient, not the session, survive a session restart.
CARRIED_OVER_SLOTS = ("treatment_date",)


def _recent(tracker: Tracker) -> bool:
    """Whether the previous session is within the retention period: a conversation idle for
    longer is due to be purged (or is being purged right now), so nothing of it is carried
    into the new session."""
    from bot.settings import Settings, SettingsError

    try:
        days = Settings.from_env().retention_days
    except SettingsError:
        days = None
    stamps = [e.get("timestamp") for e in tracker.events if isinstance(e.get("timestamp"), (int, float))]
    if days is None or not stamps:
        return True
    return time.time() - max(stamps) < days * 86400


class ActionSessionStart(Action):
    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        events: List[EventType] = [SessionStarted()]
        for slot in CARRIED_OVER_SLOTS if _recent(tracker) else ():
            value = tracker.get_slot(slot) if slot in (domain.get("slots") or {}) else None
            if value is not None:
                events.append(SlotSet(slot, value))
        say(dispatcher, "disclaimer", label="disclaimer")
        events.append(ActionExecuted("action_listen"))
        return events
