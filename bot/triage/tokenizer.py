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


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class DenialAwareTokenizer(WhitespaceTokenizer):
    @classmethod
    def create(cls, config: Dict[Text, Any], *args: Any, **kwargs: Any) -> "DenialAwareTokenizer":
        # The first component of our pipeline, in training and serving: a process that runs
        # our model without the safety changes to Rasa (a bare `rasa run`) stops here.
        from bot import rasa_ext

        if not rasa_ext.safety_installed():
            # SystemExit, not an error: Rasa's server catches errors while it loads a model and
            # then serves on without one, dropping every message in silence.
            raise SystemExit("not starting: Rasa must be started with `python -m bot.serve.rasa_cli` "
                             "(or call bot.rasa_ext.install_for_rasa() first): the clinic's safety "
                             "changes to Rasa are not installed")
        return super().create(config, *args, **kwargs)

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
