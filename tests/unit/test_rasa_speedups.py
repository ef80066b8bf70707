"""The faster check of action-server responses (bot/rasa_speedups.py) must accept nothing
that Rasa's full schema refuses, and must report a refused response exactly as Rasa does."""
from __future__ import annotations

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import rasa_speedups
from tests.fuzz.strategies import fuzz_settings, json_value

validators = rasa_speedups._cached()
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
