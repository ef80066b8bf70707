"""SymptomTriage: the triage step as a Rasa NLU graph component.

It runs on every user message after the intent classifier. The level goes into the parse
result (`triage`), so it is visible in the tracker; when the message reports a symptom
(routine or worse), the intent becomes `report_symptom` with confidence 1.0 and the
classifier's own guess is kept in `triage.classifier_intent`: the level decides, the ML
classifier never talks a warning sign away.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.triage.engine import TriageEngine  # noqa: F401 - type of `engine`

logger = logging.getLogger(__name__)

SYMPTOM_INTENT = "report_symptom"
REPORTED_LEVELS = ("routine", "urgent", "emergency")



def days_from_metadata(metadata: Optional[Dict[str, Any]], today: Optional[dt.date] = None) -> Optional[int]:
    """A channel (e.g. the web form) may send the treatment date as message metadata."""
    raw = (metadata or {}).get("treatment_date")
    if not raw:
        return None
    try:
        date = dt.date.fromisoformat(str(raw)[:10])
    except ValueError:
        return None
    days = ((today or dt.date.today()) - date).days
    return days if days >= 0 else None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class SymptomTriage(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    def __init__(self, config: Dict[Text, Any], engine: Optional[TriageEngine] = None) -> None:
        from bot.triage.tokenizer import shared_engine

        self.component_config = config
        self.engine = engine or shared_engine()

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SymptomTriage":
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._triage(message)
        return messages

    def _triage(self, message: Message) -> None:
        text = message.get("text") or ""
        days = days_from_metadata(message.get("metadata"))
        result = self.engine.assess(text, days=days)
        output = result.as_dict()
        classifier_intent = message.get("intent") or {}
        output["classifier_intent"] = classifier_intent
        if result.level in REPORTED_LEVELS:
            message.set("intent", {"name": SYMPTOM_INTENT, "confidence": 1.0}, add_to_output=True)
        message.set("triage", output, add_to_output=True)
        # Ids and levels only: message text stays out of the logs.
        logger.debug("triage level=%s signs=%s", result.level,
                     [f.label for f in result.counted])
