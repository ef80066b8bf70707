"""The faster check of action-server responses (bot/hot_paths.py) must accept nothing
that Rasa's full schema refuses, and must report a refused response exactly as Rasa does."""
from __future__ import annotations

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rasa_ext.speed import hot_paths
from tests.fuzz.strategies import fuzz_settings, json_value

validators = hot_paths._cached()
EVENT_NAMES = sorted(validators.by_event) + ["nope", ""]
FIELDS = ["name", "value", "text", "timestamp", "metadata", "entities", "parse_data", "policy",
          "confidence", "hide_rule_turn", "intent", "date_time", "kill_on_user_msg", "data"]

event = st.one_of(
    json_value,
    st.fixed_dictionaries({"event": st.sampled_from(EVENT_NAMES)},
                          optional={f: json_value for f in FIELDS}),
)
response = st.one_of(
    json_value,
    st.fixed_dictionaries({}, optional={"events": st.one_of(st.lists(event, max_size=5), json_value),
                                        "responses": st.one_of(st.lists(json_value, max_size=3), json_value)}),
)


def test_every_event_type_has_its_own_check():
    # If Rasa's schema stopped telling event types apart by name, the fast path would be off
    # (every response checked by the full schema): correct, but the speed-up silently gone.
    assert validators.outer is not None
    assert {"slot", "bot", "action", "user", "followup", "reset_slots", "active_loop"} <= set(validators.by_event)


@fuzz_settings(400)
@given(response)
def test_the_fast_check_accepts_only_what_the_full_schema_accepts(result):
    if validators.fast_ok(result):
        assert validators.full.is_valid(result)


@pytest.mark.parametrize("result", [
    {"events": [{"event": "slot", "name": "kb_last_entry", "value": "aftercare_nsaids", "timestamp": None}],
     "responses": [{"text": "An answer", "custom": {"label": "knowledge"}}]},
    {"events": [{"event": "followup", "name": "action_listen"}, {"event": "active_loop", "name": None}],
     "responses": []},
    {"events": [], "responses": []},
])
def test_what_our_actions_return_takes_the_fast_path(result):
    assert validators.fast_ok(result)
    assert validators.full.is_valid(result)


@pytest.mark.parametrize("result", [
    {"events": [{"event": "slot", "value": 1}]},          # a slot event without its name
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"name": "x"}]},                          # no event type at all
    {"events": "not a list"},
    {"responses": [1]},
])
def test_a_refused_response_is_reported_as_rasa_reports_it(result):
    from rasa.core.actions.action import RemoteAction

    assert not validators.fast_ok(result)
    with pytest.raises(jsonschema.ValidationError) as caught:
        RemoteAction._validate_action_result(None, result)
    assert "Failed to validate Action server response" in caught.value.message


# --- the graph runner without dask ----------------------------------------------------------
from typing import Any, Dict, Text  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse  # noqa: E402
from rasa.engine.exceptions import GraphComponentException, GraphRunError  # noqa: E402
from rasa.engine.graph import ExecutionContext, GraphComponent, GraphSchema, SchemaNode  # noqa: E402
from rasa.engine.runner.dask import DaskGraphRunner  # noqa: E402
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402


class Step(GraphComponent):
    """Records what it was given and in which order nodes ran."""
    calls: list = []

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.config = config

    @classmethod
    def create(cls, config, model_storage, resource, execution_context):  # noqa: ANN001
        return cls(config)

    def run(self, **kwargs: Any) -> Any:
        Step.calls.append(self.config["name"])
        if self.config.get("fail"):
            raise RuntimeError("boom")
        return [self.config["name"], sorted((k, repr(v)) for k, v in kwargs.items())]


def _node(name, needs, target=False, fail=False):
    return SchemaNode(needs=needs, uses=Step, constructor_name="create", fn="run",
                      config={"name": name, "fail": fail}, is_target=target)


# A diamond with a tail, an unused branch, and two inputs.
SCHEMA = {
    "a": _node("a", {"x": "__message__"}),
    "b": _node("b", {"x": "a"}),
    "c": _node("c", {"x": "a", "t": "__tracker__"}),
    "d": _node("d", {"left": "b", "right": "c"}, target=True),
    "unused": _node("unused", {"x": "__message__"}),
    "e": _node("e", {"x": "d"}, target=True),
}


def _runner(tmp_path, schema):
    graph = GraphSchema(schema)
    return DaskGraphRunner(graph, LocalModelStorage(tmp_path), ExecutionContext(graph, "m"))


@pytest.mark.parametrize("targets", [None, ["e"], ["d"], ["b", "c"], ["c", "e"], ["__message__"]])
def test_the_graph_runs_as_dasks_would(tmp_path, targets):
    runner = _runner(tmp_path, SCHEMA)
    inputs = {"__message__": ["hello"], "__tracker__": {"events": [1, 2]}}
    Step.calls = []
    ours = runner.run(inputs, targets)
    ours_calls = Step.calls
    Step.calls = []
    theirs = hot_paths._original_graph_run(runner, inputs, targets)
    assert ours == theirs
    assert sorted(ours_calls) == sorted(Step.calls)  # the same nodes, each once ("unused" never)
    assert "unused" not in ours_calls
    for name in ours_calls:  # and each after what it needs
        for need in SCHEMA[name].needs.values():
            if need in SCHEMA:
                assert ours_calls.index(need) < ours_calls.index(name)


def test_a_failing_node_fails_the_run_as_with_dask(tmp_path):
    runner = _runner(tmp_path, {**SCHEMA, "c": _node("c", {"x": "a"}, fail=True)})
    with pytest.raises(GraphComponentException) as ours:
        runner.run({"__message__": ["hi"], "__tracker__": None}, ["e"])
    with pytest.raises(GraphComponentException) as theirs:
        hot_paths._original_graph_run(runner, {"__message__": ["hi"], "__tracker__": None}, ["e"])
    assert str(ours.value) == str(theirs.value)


def test_an_input_named_like_a_node_gets_rasas_error(tmp_path):
    runner = _runner(tmp_path, SCHEMA)
    with pytest.raises(GraphRunError, match="clashes with a node name"):
        runner.run({"__message__": "a", "__tracker__": None}, ["e"])


def test_an_input_replacing_a_node_is_left_to_rasas_runner(tmp_path):
    runner = _runner(tmp_path, SCHEMA)
    inputs = {"__message__": ["hi"], "__tracker__": None, "b": ["given"]}
    assert runner.run(inputs, ["d"]) == hot_paths._original_graph_run(runner, inputs, ["d"])


def test_a_missing_input_is_left_to_rasas_runner(tmp_path):
    runner = _runner(tmp_path, SCHEMA)
    seen = []
    original = hot_paths._original_graph_run
    try:
        hot_paths._original_graph_run = lambda *a: seen.append(a) or {"delegated": True}
        assert runner.run({"__message__": ["hi"]}, ["e"]) == {"delegated": True}  # no __tracker__
    finally:
        hot_paths._original_graph_run = original
    assert len(seen) == 1


# --- joining sparse features -----------------------------------------------------------------
DTYPES = ["float64", "float32", "int64", "int32", "float16", "int8", "bool"]


@fuzz_settings(200)
@given(st.integers(1, 6), st.integers(0, 40), st.integers(0, 40), st.floats(0, 1), st.integers(0, 10_000),
       st.sampled_from(DTYPES), st.sampled_from(DTYPES))
def test_side_by_side_is_scipys_hstack(rows, cols_a, cols_b, density, seed, dtype_a, dtype_b):
    # Values drawn from 0..1 and scaled, so that integer dtypes hold more than zeros.
    a = (scipy.sparse.random(rows, cols_a, density=density, format="coo", random_state=seed) * 7).astype(dtype_a)
    b = (scipy.sparse.random(rows, cols_b, density=density, format="coo", random_state=seed + 1) * 7).astype(dtype_b)
    theirs = scipy.sparse.hstack([a, b])
    ours = hot_paths.side_by_side(a, b)
    assert type(ours) is type(theirs) and ours.shape == theirs.shape and ours.dtype == theirs.dtype
    for field in ("row", "col", "data"):
        assert getattr(ours, field).dtype == getattr(theirs, field).dtype
        assert np.array_equal(getattr(ours, field), getattr(theirs, field))


def test_other_sparse_joins_are_left_to_scipy():
    a = scipy.sparse.random(2, 3, density=.5, format="coo", random_state=1)
    assert hot_paths.side_by_side(a, a.tocsr()) is None
    assert hot_paths.side_by_side(a, scipy.sparse.random(3, 3, format="coo")) is None


# --- the action calls' JSON ------------------------------------------------------------------
json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    # Keys as Rasa's payloads have them (strings; integers at most): ujson writes a float or
    # enum key with str(), json.dumps otherwise.
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text() | st.integers(), inner, max_size=4),
    max_leaves=20)


@fuzz_settings(300)
@given(json_like)
def test_the_action_call_json_means_what_json_dumps_means(value):
    import json

    ours, theirs = hot_paths._json_dumps(value), json.dumps(value)
    assert ours.isascii()
    # Parsed, then written the same way: equal types and values (1 is not 1.0), NaN included.
    assert json.dumps(json.loads(ours)) == json.dumps(json.loads(theirs))


# --- the empty domain ------------------------------------------------------------------------
def test_an_empty_domain_is_told_apart_as_rasa_tells_it():
    from rasa.shared.core.domain import Domain

    from bot.config import paths

    ours = Domain.load(str(paths.ROOT / "domain"))
    for domain in (Domain.empty(), ours, Domain.from_dict({}), Domain.from_dict({"intents": ["greet"]}),
                   Domain.empty(), ours):
        assert domain.is_empty() == hot_paths._original_is_empty(domain)
    assert Domain.empty().is_empty() and not ours.is_empty()
