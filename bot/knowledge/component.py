"""SemanticAnswerScorer: nearest training questions by meaning, beside DIET's intent scores.

DIET learns from our own phrasings only; a patient's new wording ("where do these things even
come from?") can land anywhere. This component compares each clause of the message, through
the shared pretrained sentence encoder, with every training example of the knowledge intents
and of `out_of_scope`, and puts the nearest per clause into the parse result:

    parse_data["semantic_answer"] = {"clauses": [
        {"start": 0, "end": 24, "intent": "kb_what_are_exosomes", "score": 0.83,
         "runner_up": "kb_exosome_source", "runner_up_score": 0.61,
         "scores": {"kb_what_are_exosomes": 0.83, ...}}]}

Beside the nearest examples, a linear softmax head trained on the same vectors gives each clause
its most likely intent and probability (`"linear": {"intent": ..., "prob": ...}`, the best
clause's): nearest-example scores follow one lucky paraphrase, the head weighs all of an
intent's examples against all of the others'.

The decision (answer, suggest, or say there is no vetted answer) is taken from these signals in
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

from bot.encoder.head import probabilities, train_linear_head
from bot.knowledge.serving import asks

logger = logging.getLogger(__name__)

OUTPUT = "semantic_answer"
OUT_OF_SCOPE = "out_of_scope"
# DIET may take "Good afternoon. Once I've finished, how do I keep the hair?" for a greeting;
# a clause that is clearly a knowledge question then decides the intent (answer it).
CONVERSATIONAL_INTENTS = ("greet", "goodbye", "thanks", "affirm", "deny")
OVERRIDE_SCORE = 0.70         # with a greeting or thanks clause beside the question
OVERRIDE_SCORE_ALONE = 0.80   # a single clause DIET took for small talk
# ... or the linear head this sure of a knowledge intent for one clause ("ok thanks, and how fast
# does it work?"), with that clause's nearest question at least OVERRIDE_FLOOR away.
OVERRIDE_LINEAR = 0.6
OVERRIDE_LINEAR_ALONE = 0.8
OVERRIDE_FLOOR = 0.55
# A greeting, thanks or goodbye in front of a clause that asks something ("Hello! I saw your ad,
# what's that about?", "is it ok to go for a run the same evening?"): that clause, this close to
# a knowledge question, makes it a question; the answer selector then answers, offers buttons
# or says it has no reviewed answer, as for any question. Small talk never swallows a question.
SMALL_TALK = ("greet", "goodbye", "thanks")
ASKED_FLOOR = 0.5
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
                 intents: Optional[np.ndarray] = None, vectors: Optional[np.ndarray] = None,
                 head: Optional[tuple] = None) -> None:
        self.component_config = config
        self._model_storage = model_storage
        self._resource = resource
        self.intents = intents if intents is not None else np.array([], dtype=object)
        self.vectors = vectors if vectors is not None else np.zeros((0, 384), dtype=np.float32)
        self.names = sorted(set(self.intents.tolist()))
        self._columns = {n: np.flatnonzero(self.intents == n) for n in self.names}
        self.head = head  # (weights, biases), columns in self.names order
        self._kb_columns = np.array([n.startswith("kb_") for n in self.names])

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
        names = sorted(set(intents.tolist()))
        weights, bias = train_linear_head(vectors, intents, names) if len(names) > 1 else \
            (np.zeros((vectors.shape[1], len(names)), np.float32), np.zeros(len(names), np.float32))
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(directory / INDEX_FILE, intents=intents.astype(str), vectors=vectors,
                     head_weights=weights, head_bias=bias)
        return self._resource

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "SemanticAnswerScorer":
        try:
            with model_storage.read_from(resource) as directory:
                data = np.load(directory / INDEX_FILE, allow_pickle=False)
                intents, vectors = data["intents"].astype(object), data["vectors"]
                head = (data["head_weights"], data["head_bias"]) if "head_weights" in data.files else None
        except (ValueError, FileNotFoundError):
            # Not trained (a model without knowledge intents): nothing to compare with.
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, intents, vectors, head)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            semantic = self.score(message.get("text") or "")
            intent = message.get("intent") or {}
            kb = [c for c in semantic["clauses"] if c["intent"].startswith("kb_")]
            best = max(kb, key=lambda c: c["score"], default=None)
            several = len(semantic["clauses"]) > 1
            needed = OVERRIDE_SCORE if several else OVERRIDE_SCORE_ALONE
            chosen = best if best is not None and best["score"] >= needed else None
            linear = semantic.get("linear")
            if chosen is None and linear and linear["intent"].startswith("kb_") and \
                    linear["prob"] >= (OVERRIDE_LINEAR if several else OVERRIDE_LINEAR_ALONE):
                score = semantic["clauses"][linear["clause"]]["scores"].get(linear["intent"], 0.0)
                if score >= OVERRIDE_FLOOR:
                    chosen = {"intent": linear["intent"], "score": score}
            if chosen is None and intent.get("name") in SMALL_TALK:
                text = message.get("text") or ""
                chosen = max((c for c in kb if c["score"] >= ASKED_FLOOR and asks(text[c["start"]:c["end"]])),
                             key=lambda c: c["score"], default=None)
            if intent.get("name") in CONVERSATIONAL_INTENTS and chosen is not None:
                semantic["classifier_intent"] = intent
                message.set("intent", {"name": chosen["intent"], "confidence": chosen["score"]},
                            add_to_output=True)
            message.set(OUTPUT, semantic, add_to_output=True)
        return messages

    def score(self, text: str) -> Dict[str, Any]:
        if not text.strip() or not len(self.vectors):
            return {"clauses": []}
        from bot.triage.tokenizer import shared_engine

        spans, clause_vectors = shared_engine().clause_vectors(text)
        if not len(spans):  # nothing but symbols or emoji: no clause to compare
            return {"clauses": [], "linear": None}
        sims = clause_vectors @ self.vectors.T
        linear = None
        if self.head is not None and len(self.names) > 1:
            probs = probabilities(clause_vectors, *self.head)
            # The most likely knowledge intent of any clause: a greeting clause is "out of scope"
            # to the head, and must not hide the question beside it.
            row, col = np.unravel_index(int(np.where(self._kb_columns, probs, -1.0).argmax()), probs.shape)
            linear = {"intent": self.names[col], "prob": round(float(probs[row, col]), 4), "clause": int(row)}
        clauses = []
        for (start, end), row in zip(spans, sims):
            per_intent = {n: float(row[cols].max()) for n, cols in self._columns.items()}
            ranked = sorted(per_intent.items(), key=lambda kv: -kv[1])
            top, second = ranked[0], ranked[1] if len(ranked) > 1 else (None, 0.0)
            clauses.append({"start": start, "end": end, "intent": top[0], "score": round(top[1], 4),
                            "runner_up": second[0], "runner_up_score": round(second[1], 4),
                            "scores": {k: round(v, 4) for k, v in ranked[:TOP_INTENTS]}})
        return {"clauses": clauses, "linear": linear}
