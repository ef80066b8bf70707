"""DIET's intent confidences for our pipeline, computed with numpy instead of a TensorFlow call.

Our DIET (config.yml) has no transformer layers, no hidden layers and no entity recognition.
In that shape its intent confidences for a message depend on the sentence-level sparse
features alone, through three linear steps and a softmax:

    h = x . W_s + b_s    the sentence features' sparse-to-dense layer
    e = h . W_e + b_e    embed.text
    confidences = softmax(e . L^T)   inner product with every intent's embedding L, which DIET
                                     itself computes once when it loads

The sequence-level features go through the network as well, but without a transformer
nothing carries them to the sentence position that the intent is read from. For those few
multiplications Rasa builds a model-data object, a batch generator and some twenty tensors
per message, then calls the graph: a fifth of the Rasa server's CPU under load
(docs/performance.md "Round 4").

Guarded three ways:
- used only for a model of exactly that shape (checked on the loaded layers);
- the first `VERIFY_CALLS` messages of each model are also run through TensorFlow and
  compared (same top intent, every confidence within `TOLERANCE`; float32 sums in another
  order differ by ~1e-7): any difference turns it off for that model, with a warning, and
  TensorFlow's result is used (after those, two intents whose confidences tie within ~1e-7
  may come out in the other order, and a confidence within ~1e-7 of a threshold may fall on
  its other side: differences of float32 rounding, nothing more);
- anything else unusual in a message (dense features, no sentence features, a feature size
  the model was not trained with, diagnostic data asked for) goes to Rasa's own path.
Tests compare both on every training sentence.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

import numpy as np
import scipy.sparse
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.shared.constants import DIAGNOSTIC_DATA
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.utils.tensorflow.constants import (
    ENTITY_RECOGNITION,
    FEATURIZERS,
    HIDDEN_LAYERS_SIZES,
    INNER,
    INTENT_CLASSIFICATION,
    LABEL,
    NUM_TRANSFORMER_LAYERS,
    SENTENCE,
    SOFTMAX,
)

from bot.rasa_ext.registry import SPEED, replace

logger = logging.getLogger(__name__)
VERIFY_CALLS = 20
TOLERANCE = 1e-5
_STATE = "_clinic_intent_scorer"  # per classifier: an IntentScorer, or False once turned off

_original_predict = DIETClassifier._predict


def _per_attribute(value: Any, attribute: str = TEXT) -> Any:
    return value.get(attribute) if isinstance(value, dict) else value


def _dense_weights(layer: Any) -> Optional[tuple]:
    """(kernel, bias) of a plain linear Dense-like layer, else None."""
    import tensorflow as tf

    if getattr(layer, "activation", None) not in (None, tf.keras.activations.linear):
        return None
    if getattr(layer, "kernel_mask", None) is not None:  # a randomly connected layer
        return None
    kernel = layer.kernel.numpy()
    bias = layer.bias.numpy() if getattr(layer, "use_bias", False) else np.zeros(kernel.shape[1], kernel.dtype)
    return kernel, bias


class IntentScorer:
    """The linear map from a message's sentence features to DIET's intent confidences."""

    def __init__(self, sentence_kernel: np.ndarray, sentence_bias: np.ndarray, embed_kernel: np.ndarray,
                 embed_bias: np.ndarray, label_embeddings: np.ndarray) -> None:
        self.sentence_kernel, self.sentence_bias = sentence_kernel, sentence_bias
        self.embed_kernel, self.embed_bias = embed_kernel, embed_bias
        self.label_embeddings_t = np.ascontiguousarray(label_embeddings.T)
        self.verified = 0

    @classmethod
    def of(cls, classifier: DIETClassifier) -> Optional["IntentScorer"]:
        """The scorer for this classifier's model, or None if the model has another shape."""
        config, model = classifier.component_config, classifier.model
        if model is None or config.get(ENTITY_RECOGNITION) or not config.get(INTENT_CLASSIFICATION):
            return None
        if _per_attribute(config.get(NUM_TRANSFORMER_LAYERS)) != 0 or _per_attribute(config.get(HIDDEN_LAYERS_SIZES)):
            return None
        try:
            layers = model._tf_layers
            sequence_layer = layers[f"sequence_layer.{TEXT}"]
            combining = sequence_layer._tf_layers["feature_combining"]
            loss = layers[f"loss.{LABEL}"]
            if (sequence_layer._has_transformer or list(sequence_layer._tf_layers["ffnn"]._ffn_layers)
                    or loss.similarity_type != INNER or loss.model_confidence != SOFTMAX
                    or model.all_labels_embed is None
                    or any(name.startswith("unify_dims") for name in combining._tf_layers)):
                return None
            sentence = _dense_weights(combining._tf_layers[f"sparse_dense.{SENTENCE}"]._tf_layers["sparse_to_dense"])
            embed = _dense_weights(layers[f"embed.{TEXT}"]._dense)
            labels = model.all_labels_embed.numpy()
        except (AttributeError, KeyError, TypeError):
            return None
        if sentence is None or embed is None or not (
                sentence[0].shape[1] == embed[0].shape[0] and labels.ndim == 2 and labels.shape[1] == embed[0].shape[1]):
            return None
        return cls(*sentence, *embed, labels)

    def confidences(self, sentence_features: Any) -> Optional[np.ndarray]:
        """Softmax over the intents for one message's (1 x n) sparse sentence features."""
        if sentence_features.shape != (1, self.sentence_kernel.shape[0]):
            return None
        x = sentence_features.tocsr().astype(np.float32)
        hidden = np.asarray(x @ self.sentence_kernel) + self.sentence_bias
        similarities = (hidden @ self.embed_kernel + self.embed_bias) @ self.label_embeddings_t
        shifted = np.exp(similarities - similarities.max(axis=-1, keepdims=True))
        return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)


def _sentence_features(classifier: DIETClassifier, message: Any) -> Optional[Any]:
    """The message's sentence-level sparse features joined as Rasa's `get_sparse_features`
    joins them (same order, same filter); None if there are dense features or none at all.
    The sequence-level ones, which Rasa would join as well, are not needed here."""
    from bot.rasa_ext.speed.hot_paths import side_by_side

    featurizers = classifier.component_config.get(FEATURIZERS) or []
    chosen = [f for f in message.features
              if f.attribute == TEXT and (not featurizers or f.origin in featurizers)]
    if any(not f.is_sparse() for f in chosen):
        return None
    joined = None
    for f in chosen:
        if f.type != FEATURE_TYPE_SENTENCE:
            continue
        if joined is None:
            joined = f.features
        else:
            both = side_by_side(joined, f.features)
            joined = both if both is not None else scipy.sparse.hstack([joined, f.features])
    return joined


def agrees(ours: np.ndarray, theirs: Any) -> bool:
    """Same top intent, every confidence within TOLERANCE. (Intents whose confidences tie
    within float32 rounding may swap places further down the ranking.)"""
    theirs = np.asarray(theirs, dtype=np.float64).reshape(-1)
    ours = np.asarray(ours, dtype=np.float64).reshape(-1)
    return (ours.shape == theirs.shape and ours.size > 0 and np.argmax(ours) == np.argmax(theirs)
            and np.allclose(ours, theirs, rtol=0, atol=TOLERANCE))


def _predict(self: DIETClassifier, message: Any) -> Optional[Dict[str, Any]]:
    # Subclasses (ResponseSelector) read another position of the sequence: not this formula.
    if type(self) is not DIETClassifier:
        return _original_predict(self, message)
    scorer = self.__dict__.get(_STATE)
    if scorer is None:
        if self.model is not None and self.model.all_labels_embed is None:
            return _original_predict(self, message)  # not prepared yet: decide later
        scorer = self.__dict__[_STATE] = IntentScorer.of(self) or False
    if not scorer or self._execution_context.should_add_diagnostic_data:
        return _original_predict(self, message)
    scores, failed = None, False
    try:
        features = _sentence_features(self, message)
        scores = None if features is None else scorer.confidences(features)
    except Exception:  # noqa: BLE001 - a surprise turns it off, never fails a message
        logger.warning("DIET's numpy intent scores failed: off for this model", exc_info=True)
        self.__dict__[_STATE], failed = False, True
    if scores is None:
        if not failed and not any(f.attribute == TEXT for f in message.features):
            return _original_predict(self, message)  # no text features at all: no intent either way
        if _sentence_only.get():  # TensorFlow would get incomplete features: parse again
            logger.error("DIET's numpy intent scores gave nothing for a message: off for this model")
            self.__dict__[_STATE] = False
            raise _EveryFeatureNeeded()
        return _original_predict(self, message)
    if scorer.verified < VERIFY_CALLS:
        theirs = _original_predict(self, message)
        if theirs is None or not agrees(scores, theirs["i_scores"]):
            logger.warning("DIET's numpy intent scores differ from TensorFlow's: off for this model")
            self.__dict__[_STATE] = False
            return theirs
        scorer.verified += 1
    return {"i_scores": scores, DIAGNOSTIC_DATA: None}


replace(DIETClassifier, "_predict", _predict, name="speed.diet_numpy_intents", kind=SPEED, library="rasa",
        uses=("tensorflow", "scipy"),
        why="DIET's intent confidences computed with numpy for our DIET's shape (no transformer, "
            "no hidden layers, no entities), verified against TensorFlow on each model's first calls")


# --- Only the features that are read ----------------------------------------------------------
# Once every DIET of a model answers with numpy (verified), nothing in our graph reads the
# sequence-level (per token) features: the count-vector featurizers compute them beside the
# sentence-level ones, and the lexical-syntactic featurizer computes nothing else (~8% of the
# server's CPU). They are then left out of NLU parses. Only for a graph made entirely of
# components known not to read them; never in training (that is not a parse); and if the
# numpy path then fails on a message, the numpy path is turned off and that message is
# parsed again with every feature, for TensorFlow.
import contextvars  # noqa: E402
import weakref  # noqa: E402

from rasa.core.processor import MessageProcessor  # noqa: E402
from rasa.engine.exceptions import GraphComponentException  # noqa: E402
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer  # noqa: E402
from rasa.nlu.featurizers.sparse_featurizer.lexical_syntactic_featurizer import (  # noqa: E402
    LexicalSyntacticFeaturizer,
)

_sentence_only: "contextvars.ContextVar[bool]" = contextvars.ContextVar("clinic_sentence_only", default=False)


class _EveryFeatureNeeded(Exception):
    """Raised by DIET in a sentence-only parse when TensorFlow has to answer after all."""


# Components of our model's graph that read no sequence-level features (by class name and
# module, so that a subclass or another component turns the whole thing off).
NOT_READING_SEQUENCE_FEATURES = frozenset({
    "rasa.nlu.classifiers.diet_classifier.DIETClassifier",  # with the numpy path, checked below
    "rasa.graph_components.converters.nlu_message_converter.NLUMessageConverter",
    "bot.triage.tokenizer.DenialAwareTokenizer",
    "rasa.nlu.featurizers.sparse_featurizer.lexical_syntactic_featurizer.LexicalSyntacticFeaturizer",
    "rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer.CountVectorsFeaturizer",
    "rasa.nlu.classifiers.fallback_classifier.FallbackClassifier",
    "bot.triage.component.SymptomTriage",
    "bot.knowledge.component.SemanticAnswerScorer",  # reads the message text only
    "rasa.nlu.classifiers.regex_message_handler.RegexMessageHandler",
    "rasa.graph_components.providers.domain_provider.DomainProvider",
    "rasa.core.policies.rule_policy.RulePolicy",
    "rasa.graph_components.providers.rule_only_provider.RuleOnlyDataProvider",
    "rasa.core.policies.ensemble.DefaultPolicyPredictionEnsemble",
})
_diets_of: "weakref.WeakKeyDictionary[Any, Optional[list]]" = weakref.WeakKeyDictionary()


def _diets_if_only_known_components(runner: Any) -> Optional[list]:
    """The graph's DIET classifiers, or None if any component is not a known one."""
    if runner in _diets_of:
        return _diets_of[runner]
    diets: Optional[list] = []
    for node in getattr(runner, "_instantiated_nodes", {}).values():
        component = getattr(node, "_component", None)
        kind = type(component)
        if f"{kind.__module__}.{kind.__qualname__}" not in NOT_READING_SEQUENCE_FEATURES:
            diets = None
            break
        if kind is DIETClassifier:
            diets.append(component)
    _diets_of[runner] = diets = diets or None
    return diets


def sequence_features_unread(runner: Any) -> bool:
    """True if a parse through this graph needs no sequence-level features right now."""
    if DIETClassifier._predict is not _predict:  # our path is not in place (a test swapped it)
        return False
    diets = _diets_if_only_known_components(runner)
    return bool(diets) and all(
        isinstance(d.__dict__.get(_STATE), IntentScorer) and d.__dict__[_STATE].verified >= VERIFY_CALLS
        and not d._execution_context.should_add_diagnostic_data for d in diets)


_original_parse_with_graph = MessageProcessor._parse_message_with_graph
_original_count_vectors = CountVectorsFeaturizer._create_features
_original_lexical_syntactic = LexicalSyntacticFeaturizer._process_message


def _parse_message_with_graph(self: MessageProcessor, *args: Any, **kwargs: Any) -> Dict[str, Any]:
    try:
        unread = sequence_features_unread(self.graph_runner)
    except Exception:  # noqa: BLE001 - when in doubt, every feature
        logger.warning("could not tell which features are read: computing them all", exc_info=True)
        unread = False
    if unread:
        token = _sentence_only.set(True)
        try:
            return _original_parse_with_graph(self, *args, **kwargs)
        except GraphComponentException as e:
            if not isinstance(e.__cause__, _EveryFeatureNeeded):
                raise
            # The numpy path is off now: the same message again, with every feature (the
            # converter makes a new Message from it, so nothing of the first run remains).
        finally:
            _sentence_only.reset(token)
    return _original_parse_with_graph(self, *args, **kwargs)


def _count_vectors(self: CountVectorsFeaturizer, attribute: str, all_tokens: Any) -> Any:
    if not _sentence_only.get() or attribute != TEXT or not self.vectorizers.get(attribute):
        return _original_count_vectors(self, attribute, all_tokens)
    sentences = []
    for tokens in all_tokens:  # as Rasa's, without the per-token rows
        if not tokens:
            sentences.append(None)
            continue
        vector = self.vectorizers[attribute].transform([" ".join(tokens)])
        vector.sort_indices()
        sentences.append(vector.tocoo())
    return [None] * len(all_tokens), sentences


def _lexical_syntactic(self: LexicalSyntacticFeaturizer, message: Any) -> None:
    if not _sentence_only.get():  # it makes sequence-level features only
        _original_lexical_syntactic(self, message)


replace(MessageProcessor, "_parse_message_with_graph", _parse_message_with_graph,
        name="speed.sentence_features_only", kind=SPEED, library="rasa",
        why="marks a parse as needing sentence-level features only, once every DIET of the model "
            "answers with numpy (verified), so the featurizers below skip the unread ones")
replace(CountVectorsFeaturizer, "_create_features", _count_vectors,
        name="speed.count_vectors_sentence_only", kind=SPEED, library="rasa",
        why="computes only the sentence-level count vectors when nothing reads the sequence level")
replace(LexicalSyntacticFeaturizer, "_process_message", _lexical_syntactic,
        name="speed.lexical_syntactic_skipped", kind=SPEED, library="rasa",
        why="skips the lexical-syntactic featurizer (sequence-level only) when nothing reads it")
