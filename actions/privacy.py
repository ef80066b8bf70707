"""Deleting a patient's data after they confirmed it."""
from typing import List

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.services import say, settings
from bot.privacy.deletion import request_deletion


async def delete_conversation_data(dispatcher: CollectingDispatcher, tracker: Tracker) -> List[EventType]:
    request_deletion(settings().database_url, tracker.sender_id)
    say(dispatcher, "data_deleted", label="delete_data")
    # Forget what the assistant itself remembers about the person in this session too.
    return [SlotSet(slot, None) for slot in ("kb_last_entry", "treatment_date", "contact_name", "contact")
            if tracker.get_slot(slot) is not None]
