"""DIET's intent confidences computed with numpy (bot/rasa_ext/speed/diet_intents.py) against TensorFlow's,
on the trained model."""
from types import SimpleNamespace

import numpy as np
import pytest
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.shared.nlu.training_data.loading import load_data

from bot.config import paths
from bot.rasa_ext.speed import diet_intents


def _diet(assistant) -> DIETClassifier:
    nodes = assistant.agent.processor.graph_runner._instantiated_nodes.values()
    (diet,) = [n._component for n in nodes if isinstance(n._component, DIETClassifier)]
    return diet


def _parse(assistant, text: str) -> dict:
    return assistant.loop.run_until_complete(assistant.agent.parse_message(text))


def _confidences(parse: dict) -> dict:
    return {r["name"]: r["confidence"] for r in parse["intent_ranking"]}


def _copy_of(scorer, **changes) -> diet_intents.IntentScorer:
    parts = dict(sentence_kernel=scorer.sentence_kernel, sentence_bias=scorer.sentence_bias,
                 embed_kernel=scorer.embed_kernel, embed_bias=scorer.embed_bias,
                 label_embeddings=scorer.label_embeddings_t.T)
    return diet_intents.IntentScorer(**{**parts, **changes})


def _sentence_only_modes(monkeypatch) -> list:
    """Whether each lexical-syntactic featurization ran in a sentence-only parse."""
    from rasa.nlu.featurizers.sparse_featurizer.lexical_syntactic_featurizer import LexicalSyntacticFeaturizer

    modes, real = [], LexicalSyntacticFeaturizer._process_message
    monkeypatch.setattr(LexicalSyntacticFeaturizer, "_process_message",
                        lambda self, m: modes.append(diet_intents._sentence_only.get()) or real(self, m))
    return modes


def _training_sentences() -> list:
    files = [*sorted((paths.ROOT / "data" / "nlu").glob("*.yml")), paths.ROOT / "data" / "generated" / "knowledge_nlu.yml"]
    return sorted({m.get("text") for f in files for m in load_data(str(f)).intent_examples if m.get("text")})


def test_numpy_and_tensorflow_agree_on_every_training_sentence(assistant, monkeypatch):
    sentences = _training_sentences() + ["", "?", "zzzz qqqq", "héllo 😀", "ibuprofen " * 60]
    assert len(sentences) > 1000
    _parse(assistant, "hello")
    scorer = _diet(assistant).__dict__.get(diet_intents._STATE)
    answered = []
    monkeypatch.setattr(scorer, "confidences", lambda f, own=scorer.confidences: answered.append(1) or own(f))
    ours = [_parse(assistant, s) for s in sentences]
    assert _diet(assistant).__dict__.get(diet_intents._STATE) is scorer  # in use, never turned off
    assert scorer.verified == diet_intents.VERIFY_CALLS
    assert len(answered) >= len(sentences) - 2  # numpy answered (not "" or "?": no features)
    monkeypatch.setattr(DIETClassifier, "_predict", diet_intents._original_predict)
    theirs = [_parse(assistant, s) for s in sentences]
    for a, b in zip(ours, theirs):
        assert a["intent"]["name"] == b["intent"]["name"], a["text"]
        assert abs(a["intent"]["confidence"] - b["intent"]["confidence"]) < diet_intents.TOLERANCE
        ca, cb = _confidences(a), _confidences(b)
        shared = set(ca) & set(cb)
        assert len(shared) >= len(cb) - 1  # a near-tie at the end of the ranking may differ
        assert all(abs(ca[n] - cb[n]) < diet_intents.TOLERANCE for n in shared), a["text"]


def test_a_disagreement_turns_it_off_and_tensorflow_answers(assistant, monkeypatch):
    diet = _diet(assistant)
    _parse(assistant, "can I take ibuprofen after the treatment?")
    good = diet.__dict__[diet_intents._STATE]
    broken = _copy_of(good, embed_bias=good.embed_bias + 3.0 * np.eye(good.embed_bias.size)[0])
    monkeypatch.setitem(diet.__dict__, diet_intents._STATE, broken)
    text = "how long should I avoid the gym after my injections?"
    ours = _parse(assistant, text)
    assert diet.__dict__[diet_intents._STATE] is False
    monkeypatch.setattr(DIETClassifier, "_predict", diet_intents._original_predict)
    assert ours["intent_ranking"] == _parse(assistant, text)["intent_ranking"]


def test_a_failure_turns_it_off_without_failing_the_message(assistant, monkeypatch):
    diet = _diet(assistant)
    _parse(assistant, "hello")
    failing = _copy_of(diet.__dict__[diet_intents._STATE])
    failing.confidences = lambda features: 1 / 0
    monkeypatch.setitem(diet.__dict__, diet_intents._STATE, failing)
    parse = _parse(assistant, "what is exosome therapy?")
    assert parse["intent"]["name"] and diet.__dict__[diet_intents._STATE] is False


@pytest.mark.parametrize("change", [
    {"number_of_transformer_layers": 2},
    {"number_of_transformer_layers": {"text": 1, "label": 0}},
    {"entity_recognition": True},
    {"intent_classification": False},
    {"hidden_layers_sizes": {"text": [256], "label": []}},
])
def test_another_shape_of_model_is_left_to_tensorflow(assistant, change):
    # (ResponseSelector, a subclass, is never given this path: see _predict.)
    diet = _diet(assistant)
    assert diet_intents.IntentScorer.of(diet) is not None
    other = SimpleNamespace(component_config={**diet.component_config, **change}, model=diet.model)
    assert diet_intents.IntentScorer.of(other) is None


def test_sequence_features_are_left_out_once_nothing_reads_them(assistant, monkeypatch):
    from rasa.core.channels.channel import UserMessage
    from rasa.shared.nlu.constants import FEATURE_TYPE_SEQUENCE

    for text in ("hello", "can I smoke after the treatment?") * diet_intents.VERIFY_CALLS:
        _parse(assistant, text)  # verified by now
    processor = assistant.agent.processor
    assert diet_intents.sequence_features_unread(processor.graph_runner)

    def features_after_parse(text):
        target = processor.model_metadata.nlu_target
        token = diet_intents._sentence_only.set(diet_intents.sequence_features_unread(processor.graph_runner))
        try:
            tracker = assistant.loop.run_until_complete(processor.get_tracker("features-check"))
            out = processor.graph_runner.run(inputs={"__message__": [UserMessage(text)], "__tracker__": tracker},
                                             targets=[target])[target][0]
        finally:
            diet_intents._sentence_only.reset(token)
        return {(f.type, f.origin) for f in out.features}

    kinds = features_after_parse("my scalp is red and hot since the injections")
    assert kinds and all(kind != FEATURE_TYPE_SEQUENCE for kind, _ in kinds)

    modes = _sentence_only_modes(monkeypatch)
    sentences = _training_sentences()[::3] + ["", "?", "zzzz qqqq"]
    without = [_parse(assistant, s) for s in sentences]
    assert modes and all(modes)  # every parse left them out
    monkeypatch.setattr(diet_intents, "sequence_features_unread", lambda runner: False)
    assert any(kind == FEATURE_TYPE_SEQUENCE for kind, _ in features_after_parse("my scalp is red"))
    with_them = [_parse(assistant, s) for s in sentences]
    assert without == with_them  # the same parse, to the last digit


def test_a_graph_with_an_unknown_component_keeps_every_feature():
    class Node:
        def __init__(self, component):
            self._component = component

    class Runner:
        _instantiated_nodes = {"a": Node(object())}

    assert diet_intents._diets_if_only_known_components(Runner()) is None


def test_a_failure_in_a_sentence_only_parse_parses_again_for_tensorflow(assistant, monkeypatch):
    diet = _diet(assistant)
    for _ in range(diet_intents.VERIFY_CALLS):
        _parse(assistant, "hello")
    modes = _sentence_only_modes(monkeypatch)
    failing = _copy_of(diet.__dict__[diet_intents._STATE])
    failing.verified = diet_intents.VERIFY_CALLS
    failing.confidences = lambda features: 1 / 0
    monkeypatch.setitem(diet.__dict__, diet_intents._STATE, failing)
    text = "my scalp has been really itchy since the injections"
    ours = _parse(assistant, text)
    assert modes == [True, False]  # sentence-only first, then again with every feature
    assert diet.__dict__[diet_intents._STATE] is False
    monkeypatch.setattr(DIETClassifier, "_predict", diet_intents._original_predict)
    assert ours["intent_ranking"] == _parse(assistant, text)["intent_ranking"]
