"""DenialAwareTokenizer: Rasa's whitespace tokenizer, minus denied symptoms.

"No swelling, no redness at all - when will I see results?" is a question about results; the
denial is context. Left in, the symptom words pull the intent classifier towards side
effects. This tokenizer drops the tokens of denied signs (found by the triage engine's
ConText rules) for the classifier, in training and at run time alike. The message text is
untouched, and the triage step still reads all of it.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message


@lru_cache(maxsize=1)
def shared_engine():
    """One triage engine per process, shared with the SymptomTriage component."""
    from bot.triage.engine import TriageEngine

    return TriageEngine()


import bot.diet_intents  # noqa: E402,F401 - loaded with our pipeline, in every Rasa process
import bot.rasa_speedups  # noqa: E402,F401 - loaded with our pipeline, in every Rasa process
import bot.rule_matching  # noqa: E402,F401 - loaded with our pipeline, in every Rasa process
import bot.resilience.rasa_patches  # noqa: E402,F401 - fail closed and safe (README "Reliability")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class DenialAwareTokenizer(WhitespaceTokenizer):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return WhitespaceTokenizer.get_default_config()

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        tokens = super().tokenize(message, attribute)
        if attribute != TEXT:
            return tokens
        spans = shared_engine().denied_spans(message.get(TEXT) or "")
        if not spans:
            return tokens
        kept = [t for t in tokens if not any(a <= t.start and t.end <= b for a, b in spans)]
        # A message that is nothing but a denial ("no fever, no pus") keeps its words.
        return kept or tokens
