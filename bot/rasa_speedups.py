"""A measured fix for Rasa 3.6's hottest path under load (README "Performance").

Rasa validates every custom-action response with `jsonschema.validate(result, schema)`,
which checks the *schema itself* again on every call before validating the result: in our
profile (py-spy, 10 concurrent conversations) that was 63% of the Rasa server's CPU. Here the
same validation runs against validators built once, whose schema was checked once.

Then, still 6% of the server's time: each event is checked against a `oneOf` of every event
type's schema (all of them evaluated, for every event). Every alternative is told apart by
its `event` name, so only the alternatives with that name can match: each event is checked
against those alone, which accepts exactly what the full schema accepts. Anything the fast
check refuses is validated again by the full schema, so errors are reported as before.
Imported by our pipeline components, so it is in place wherever our model is loaded.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

import jsonschema
from rasa.core.actions import action as rasa_action


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


rasa_action.RemoteAction._validate_action_result = _validate_action_result


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


rasa_models.RasaModel._rasa_predict = _rasa_predict
