"""SemanticAnswerScorer: nearest training questions by meaning, beside DIET's intent scores.

DIET learns from our own phrasings only; a patient's new wording ("where do these things even
come from?") can land anywhere. This component compares each clause of the message, through
the shared pretrained sentence encoder, with every training example of the knowledge intents
and of `out_of_scope`, and puts the nearest per clause into the parse result:

    parse_data["semantic_answer"] = {"clauses": [
        {"start": 0, "end": 24, "intent": "kb_what_are_exosomes", "score": 0.83,
         "runner_up": "kb_exosome_source", "runner_up_score": 0.61,
         "scores": {"kb_what_are_exosomes": 0.83, ...}}]}

The decision (answer, suggest, or say there is no vetted answer) is taken from both signals in
bot/knowledge/serving.py. The examples' vectors are computed at training and stored with the
model, so the server only encodes the message, once, shared with triage.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

OUTPUT = "semantic_answer"
OUT_OF_SCOPE = "out_of_scope"
# DIET may take "Good afternoon. Once I've finished, how do I keep the hair?" for a greeting;
# a clause that is clearly a knowledge question then decides the intent (answer it).
CONVERSATIONAL_INTENTS = ("greet", "goodbye", "thanks", "affirm", "deny")
OVERRIDE_SCORE = 0.70         # with a greeting or thanks clause beside the question
OVERRIDE_SCORE_ALONE = 0.80   # a single clause DIET took for small talk
INDEX_FILE = "index.npz"
TOP_INTENTS = 5


def indexed_intent(name: str) -> bool:
    return name.startswith("kb_") or name == OUT_OF_SCOPE


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class SemanticAnswerScorer(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 intents: Optional[np.ndarray] = None, vectors: Optional[np.ndarray] = None) -> None:
        self.component_config = config
        self._model_storage = model_storage
        self._resource = resource
        self.intents = intents if intents is not None else np.array([], dtype=object)
        self.vectors = vectors if vectors is not None else np.zeros((0, 384), dtype=np.float32)
        self.names = sorted(set(self.intents.tolist()))
        self._columns = {n: np.flatnonzero(self.intents == n) for n in self.names}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SemanticAnswerScorer":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        from bot.encoder.model import shared_encoder

        examples = [(m.get("intent"), m.get("text")) for m in training_data.intent_examples
                    if indexed_intent(m.get("intent") or "") and m.get("text")]
        intents = np.array([i for i, _ in examples], dtype=object)
        vectors = shared_encoder().encode([t for _, t in examples])
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(directory / INDEX_FILE, intents=intents.astype(str), vectors=vectors)
        return self._resource

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "SemanticAnswerScorer":
        try:
            with model_storage.read_from(resource) as directory:
                data = np.load(directory / INDEX_FILE, allow_pickle=False)
                intents, vectors = data["intents"].astype(object), data["vectors"]
        except (ValueError, FileNotFoundError):
            # Not trained (a model without knowledge intents): nothing to compare with.
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, intents, vectors)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            semantic = self.score(message.get("text") or "")
            intent = message.get("intent") or {}
            kb = [c for c in semantic["clauses"] if c["intent"].startswith("kb_")]
            best = max(kb, key=lambda c: c["score"], default=None)
            needed = OVERRIDE_SCORE if len(semantic["clauses"]) > 1 else OVERRIDE_SCORE_ALONE
            if intent.get("name") in CONVERSATIONAL_INTENTS and best is not None and best["score"] >= needed:
                semantic["classifier_intent"] = intent
                message.set("intent", {"name": best["intent"], "confidence": best["score"]},
                            add_to_output=True)
            message.set(OUTPUT, semantic, add_to_output=True)
        return messages

    def score(self, text: str) -> Dict[str, Any]:
        if not text.strip() or not len(self.vectors):
            return {"clauses": []}
        from bot.triage.tokenizer import shared_engine

        spans, clause_vectors = shared_engine().clause_vectors(text)
        sims = clause_vectors @ self.vectors.T
        clauses = []
        for (start, end), row in zip(spans, sims):
            per_intent = {n: float(row[cols].max()) for n, cols in self._columns.items()}
            ranked = sorted(per_intent.items(), key=lambda kv: -kv[1])
            top, second = ranked[0], ranked[1] if len(ranked) > 1 else (None, 0.0)
            clauses.append({"start": start, "end": end, "intent": top[0], "score": round(top[1], 4),
                            "runner_up": second[0], "runner_up_score": round(second[1], 4),
                            "scores": {k: round(v, 4) for k, v in ranked[:TOP_INTENTS]}})
        return {"clauses": clauses}
