"""Measured fixes for Rasa 3.6's hottest paths under load (docs/performance.md, rounds 1-4).

Rasa validates every custom-action response with `jsonschema.validate(result, schema)`,
which checks the *schema itself* again on every call before validating the result: in our
profile (py-spy, 10 concurrent conversations) that was 63% of the Rasa server's CPU. Here the
same validation runs against validators built once, whose schema was checked once.

Then, still 6% of the server's time: each event is checked against a `oneOf` of every event
type's schema (all of them evaluated, for every event). Every alternative is told apart by
its `event` name, so only the alternatives with that name can match: each event is checked
against those alone, which accepts exactly what the full schema accepts. Anything the fast
check refuses is validated again by the full schema, so errors are reported as before.
Each replacement below is registered with bot/rasa_ext/registry.py and applied by
`bot.rasa_ext.install_for_rasa()` (not on import).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Tuple

import jsonschema
from rasa.core.actions import action as rasa_action

from bot.rasa_ext.registry import SPEED, replace


class _Validators:
    def __init__(self) -> None:
        schema = rasa_action.RemoteAction.action_response_format_spec()
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        self.full = cls(schema)
        self.outer: Optional[Any] = None
        self.by_event: Dict[str, Any] = {}
        events = schema.get("properties", {}).get("events", {})
        item = events.get("items", {})
        alternatives = item.get("oneOf")
        names = [alt.get("properties", {}).get("event", {}).get("const") for alt in alternatives or []]
        if not alternatives or None in names or "event" not in item.get("required", []):
            return  # not told apart by name: the full schema only
        base = {k: v for k, v in item.items() if k != "oneOf"}
        for name in set(names):
            matching = [alt for alt, n in zip(alternatives, names) if n == name]
            self.by_event[name] = cls({**base, "oneOf": matching})
        self.outer = cls({**schema, "properties": {**schema["properties"],
                                                   "events": {k: v for k, v in events.items() if k != "items"}}})

    def fast_ok(self, result: Any) -> bool:
        if self.outer is None or not self.outer.is_valid(result):
            return False
        events = result.get("events") if isinstance(result, dict) else None
        for event in events or ():
            checker = self.by_event.get(event.get("event")) if isinstance(event, dict) else None
            if checker is None or not checker.is_valid(event):
                return False
        return True


_validators: Optional[_Validators] = None


def _cached() -> _Validators:
    global _validators
    if _validators is None:
        _validators = _Validators()
    return _validators


def _validate_action_result(self, result: Dict[str, Any]) -> bool:
    validators = _cached()
    if validators.fast_ok(result):
        return True
    try:
        validators.full.validate(result)
        return True
    except jsonschema.ValidationError as e:
        e.message += (". Failed to validate Action server response from API, make sure your response "
                      "from the Action endpoint is valid.")
        raise e


replace(rasa_action.RemoteAction, "_validate_action_result", _validate_action_result,
        name="speed.action_response_check", kind=SPEED, library="rasa", uses=("jsonschema",),
        why="checks the action server's response against validators built once, by event name "
            "(the schema was re-checked on every call: 63% of the server's CPU under load)")


# --- DIET's prediction call ----------------------------------------------------------------
# Rasa calls its `tf.function` with the batch on every message; TensorFlow then matches the
# arguments to the function's signature in Python before running the graph, which cost more
# than the graph itself (1.1 ms against 0.4 ms per message here). The signature is fixed once
# the function exists, so the graph is called directly with the batch's tensors. The first
# call of each model is made both ways and compared; any difference or error, and the model
# keeps Rasa's own call.
from rasa.shared.constants import DIAGNOSTIC_DATA  # noqa: E402
from rasa.utils.tensorflow import models as rasa_models  # noqa: E402

_original_rasa_predict = rasa_models.RasaModel._rasa_predict
logger = logging.getLogger(__name__)


def _direct_call(model: Any):
    """The graph's direct call for this model, or None where the signature is not a plain
    list of tensors."""
    import tensorflow as tf

    concrete = model._tf_predict_step.get_concrete_function()
    args, kwargs = concrete.structured_input_signature
    if kwargs or len(args) != 1 or not all(isinstance(s, tf.TensorSpec) for s in args[0]):
        return None
    specs = list(args[0])
    captured = concrete.captured_inputs

    def call(batch_in):
        if len(batch_in) != len(specs) or any(
                getattr(x, "dtype", None) != s.dtype.as_numpy_dtype or len(x.shape) != len(s.shape)
                for x, s in zip(batch_in, specs)):
            return None
        return concrete._call_flat([tf.constant(x) for x in batch_in], captured)

    return call


def _same(a: Any, b: Any) -> bool:
    import numpy as np
    import tensorflow as tf

    flat_a, flat_b = tf.nest.flatten(a), tf.nest.flatten(b)
    return len(flat_a) == len(flat_b) and all(
        np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(flat_a, flat_b))


def _rasa_predict(self, batch_in):
    tf_utils = rasa_models.tf_utils  # the helper Rasa itself uses

    if self._run_eagerly or self._tf_predict_step is None or not self.prepared_for_prediction:
        return _original_rasa_predict(self, batch_in)
    call, raw = self.__dict__.get("_clinic_direct_call"), None
    if call is None:
        try:
            call = _direct_call(self) or False
            if call:
                raw = call(batch_in)
                if raw is None or not _same(tf_utils.sync_to_numpy_or_python_type(raw),
                                            tf_utils.sync_to_numpy_or_python_type(self._tf_predict_step(batch_in))):
                    call, raw = False, None
        except Exception:  # noqa: BLE001 - any surprise: keep Rasa's call
            logger.warning("DIET's direct graph call is off for this model", exc_info=True)
            call, raw = False, None
        self.__dict__["_clinic_direct_call"] = call
    elif call:
        raw = call(batch_in)
    if raw is None:
        return _original_rasa_predict(self, batch_in)
    self._training = False
    outputs = tf_utils.sync_to_numpy_or_python_type(raw)
    if DIAGNOSTIC_DATA in outputs:
        outputs[DIAGNOSTIC_DATA] = self._empty_lists_to_none_in_dict(outputs[DIAGNOSTIC_DATA])
    return outputs


replace(rasa_models.RasaModel, "_rasa_predict", _rasa_predict,
        name="speed.diet_graph_call", kind=SPEED, library="rasa", uses=("tensorflow",),
        why="calls DIET's prediction graph directly, after checking the first call both ways "
            "(TensorFlow's argument matching cost more than the graph)")


# --- Running a graph ------------------------------------------------------------------------
# Rasa runs the NLU graph once per message and the policy graph once per predicted action,
# each time through dask: it re-derives the minimal schema, rebuilds the dask graph, orders
# it, and formats a debug line holding the inputs and the whole execution context (the f-string
# is built even with debug logging off). For graphs of a dozen nodes that was ~15% of a parse.
# The same nodes run here in a dependency order worked out once per set of targets; every
# node still receives exactly the (name, value) pairs dask would pass it. Anything unusual (a
# need that is neither a node nor an input) goes to Rasa's own runner.
from rasa.engine.exceptions import GraphRunError  # noqa: E402
from rasa.engine.runner import dask as rasa_dask  # noqa: E402

_original_graph_run = rasa_dask.DaskGraphRunner.run


def _execution_order(schema: Any, targets: tuple) -> Optional[Tuple[list, frozenset]]:
    """The nodes to run, each after what it needs, and the names that must come as inputs
    (needs and targets that are not nodes); None for a graph this cannot order."""
    minimal = schema.minimal_graph_schema(list(targets))
    order, state = [], {}

    def visit(name: str) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ValueError("cycle")
        state[name] = "visiting"
        for need in minimal.nodes[name].needs.values():
            if need in minimal.nodes:
                visit(need)
        state[name] = "done"
        order.append((name, tuple(minimal.nodes[name].needs.values())))

    try:
        for target in targets:
            if target in minimal.nodes:
                visit(target)
    except (ValueError, RecursionError):
        return None
    named = {need for _, needs in order for need in needs} | set(targets)
    return order, frozenset(n for n in named if n not in schema.nodes)


def _graph_run(self, inputs: Optional[Dict[str, Any]] = None, targets: Optional[list] = None) -> Dict[str, Any]:
    run_targets = tuple(targets if targets else self._graph_schema.target_names)
    plans = self.__dict__.setdefault("_clinic_plans", {})
    if run_targets not in plans:
        plans[run_targets] = _execution_order(self._graph_schema, run_targets)
    plan, inputs = plans[run_targets], inputs or {}
    if plan is None or not plan[1] <= inputs.keys() or any(
            name in self._graph_schema.nodes or (
                isinstance(value, str) and (value in self._graph_schema.nodes or value in inputs))
            for name, value in inputs.items()):
        # Unorderable, an input missing, an input replacing a node, or Rasa's error for a value
        # named like one: Rasa's own runner.
        return _original_graph_run(self, inputs, targets)
    values: Dict[str, Any] = {name: (name, value) for name, value in inputs.items()}
    try:
        for name, needs in plan[0]:
            values[name] = self._instantiated_nodes[name](*(values[need] for need in needs))
        return dict(values[target] for target in run_targets)
    except RuntimeError as e:
        raise GraphRunError("Error running runner.") from e


replace(rasa_dask.DaskGraphRunner, "run", _graph_run,
        name="speed.graph_runner", kind=SPEED, library="rasa",
        why="runs the graph's nodes in an order worked out once per set of targets, "
            "instead of rebuilding a dask graph per message (~15% of a parse)")


# --- Joining sparse features ----------------------------------------------------------------
# Each message's sparse features from the three featurizers are joined side by side with
# scipy's `hstack`, whose general block-matrix code built and checked five COO matrices per
# join (~10% of a parse). For two COO matrices of one dtype the join is the two entry lists
# one after the other, the second's columns shifted: the same matrix, entries in the same
# order. Anything else goes to scipy.
import numpy as np  # noqa: E402
import scipy.sparse  # noqa: E402
from rasa.shared.nlu.training_data import features as rasa_features  # noqa: E402
from scipy.sparse._sputils import get_index_dtype, upcast  # noqa: E402

_original_combine_sparse = rasa_features.Features._combine_sparse_features


def side_by_side(a: Any, b: Any) -> Optional[Any]:
    """`scipy.sparse.hstack([a, b])` for two COO matrices with the same number of rows, else
    None. Built as scipy's `bmat` builds it: data of the two dtypes' `upcast` (our
    featurizers give float64 and int64 side by side), indices of the dtype the shape needs."""
    if not (scipy.sparse.isspmatrix_coo(a) and scipy.sparse.isspmatrix_coo(b)) or a.shape[0] != b.shape[0]:
        return None
    shape = (a.shape[0], a.shape[1] + b.shape[1])
    index = get_index_dtype(maxval=max(shape))
    data = np.empty(a.nnz + b.nnz, dtype=upcast(a.dtype, b.dtype))
    data[:a.nnz], data[a.nnz:] = a.data, b.data
    row = np.concatenate([a.row, b.row]).astype(index, copy=False)
    col = np.concatenate([a.col.astype(index, copy=False), b.col.astype(index, copy=False) + index(a.shape[1])])
    return scipy.sparse.coo_matrix((data, (row, col)), shape=shape)


def _combine_sparse_features(self, additional_features: Any) -> None:
    joined = None
    if self.features.shape[0] == additional_features.features.shape[0]:
        joined = side_by_side(self.features, additional_features.features)
    if joined is None:
        return _original_combine_sparse(self, additional_features)
    self.features = joined
    self._cached_fingerprint = None


replace(rasa_features.Features, "_combine_sparse_features", _combine_sparse_features,
        name="speed.sparse_join", kind=SPEED, library="rasa", uses=("scipy",),
        why="joins two COO matrices side by side without scipy's general block-matrix code "
            "(~10% of a parse); anything else goes to scipy")


# --- Calls to the action server -------------------------------------------------------------
# Rasa opens a new aiohttp session, and so a new TCP connection, for every custom-action call
# (several per message), and the action server sets up a connection for each. Here each
# endpoint keeps one session per event loop whose connections are reused. The client drops an
# idle connection after 2 s, before the action server's 5 s keep-alive ends it, so a request
# is never sent on a connection the server is closing. Everything else is as Rasa's request:
# headers, token, basic auth, CA file, errors. Measured, alternating runs at 50 conversations:
# 0.5-0.6 ms less CPU per message in the Rasa server, 0.2 ms in the action server.
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import ssl  # noqa: E402
import weakref  # noqa: E402

import aiohttp  # noqa: E402
import ujson  # noqa: E402
from rasa.utils import endpoints as rasa_endpoints  # noqa: E402

IDLE_CONNECTION_SECONDS = 2.0
_sessions: "weakref.WeakKeyDictionary[Any, Dict[int, Any]]" = weakref.WeakKeyDictionary()


def _json_dumps(value: Any) -> str:
    """The action call's JSON (the whole session's events) with ujson, which Sanic already
    uses: the same JSON as `json.dumps` but 2.4 times faster on our calls; anything ujson
    refuses (an integer beyond 64 bits, ...) goes to `json.dumps`."""
    try:
        return ujson.dumps(value, escape_forward_slashes=False)
    except (OverflowError, TypeError, ValueError):
        return json.dumps(value)


def _session_for(endpoint: Any) -> Any:
    loop = asyncio.get_running_loop()
    if loop not in _sessions:
        for old in [old for old in _sessions if old.is_closed()]:
            del _sessions[old]  # each session refers to its loop, so none would go by itself
    by_endpoint = _sessions.setdefault(loop, {})
    kept = by_endpoint.get(id(endpoint))
    if kept is not None and kept[0] is endpoint and not kept[1].closed:
        return kept[1]
    auth = (aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"])
            if endpoint.basic_auth else None)
    session = aiohttp.ClientSession(
        headers=endpoint.headers, auth=auth, json_serialize=_json_dumps,
        # No cookies carried from one conversation's call to another's (Rasa's fresh session
        # per call kept none either).
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=rasa_endpoints.DEFAULT_REQUEST_TIMEOUT),
        connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=IDLE_CONNECTION_SECONDS))
    by_endpoint[id(endpoint)] = (endpoint, session)
    return session


async def _request(self, method: str = "post", subpath: Optional[str] = None,
                   content_type: Optional[str] = "application/json", compress: bool = False,
                   **kwargs: Any) -> Optional[Any]:
    headers = {"Content-Type": content_type} if content_type else {}
    headers.update(kwargs.pop("headers", None) or {})
    headers.update(self.headers or {})
    sslcontext = None
    if self.cafile:
        try:
            sslcontext = ssl.create_default_context(cafile=self.cafile)
        except FileNotFoundError as e:
            raise rasa_endpoints.FileNotFoundException(
                f"Failed to find certificate file, '{os.path.abspath(self.cafile)}' does not exist.") from e
    url = rasa_endpoints.concat_url(self.url, subpath)
    async with _session_for(self).request(method, url, headers=headers, params=self.combine_parameters(kwargs),
                                          compress=compress, ssl=sslcontext, **kwargs) as response:
        if response.status >= 400:
            raise rasa_endpoints.ClientResponseError(response.status, response.reason,
                                                     await response.content.read())
        try:
            return await response.json()
        except aiohttp.ContentTypeError:
            return None


replace(rasa_endpoints.EndpointConfig, "request", _request,
        name="speed.action_server_connections", kind=SPEED, library="rasa", uses=("aiohttp",),
        why="keeps one HTTP session per endpoint and event loop, so calls to the action server "
            "reuse connections instead of opening one per call")


async def close_sessions() -> None:
    """Close the kept sessions of the running loop (before closing the loop itself)."""
    for _endpoint, session in _sessions.pop(asyncio.get_running_loop(), {}).values():
        await session.close()


# --- An empty domain, built once ------------------------------------------------------------
# Rasa checks `domain.is_empty()` on every message (`_check_for_unseen_features`) by building
# a whole new empty Domain to compare with: 2.4% of the server's CPU under load. The empty
# domain's dictionary is the same every time; it is built once and compared the same way.
import functools  # noqa: E402

from rasa.shared.core.domain import Domain  # noqa: E402

_original_is_empty = Domain.is_empty


@functools.lru_cache(maxsize=1)
def _empty_domain_dict() -> Dict[str, Any]:
    return Domain.empty().as_dict()  # a domain of its own, held here only: never changed


def _is_empty(self: Domain) -> bool:
    return self.as_dict() == _empty_domain_dict()


replace(Domain, "is_empty", _is_empty,
        name="speed.empty_domain", kind=SPEED, library="rasa",
        why="compares with an empty domain's dictionary built once, not a new Domain per message")
