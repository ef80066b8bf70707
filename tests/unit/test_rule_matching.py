"""bot/rasa_ext/speed/rule_matching.py: a loaded rule policy's remembered rule matches are Rasa's."""
import json

from hypothesis import given
from hypothesis import strategies as st
from rasa.core.policies.rule_policy import RulePolicy

from bot.rasa_ext.speed import rule_matching
from tests.fuzz.strategies import fuzz_settings

sub_states = {
    "user": st.fixed_dictionaries({"intent": st.sampled_from(["greet", "ask", "report"])}),
    "prev_action": st.fixed_dictionaries({"action_name": st.sampled_from(["action_listen", "a1", "a2"])}),
    "slots": st.dictionaries(st.sampled_from(["s1", "s2"]), st.sampled_from([(1.0,), (0.0,), "should_not_be_set"]),
                             max_size=2),
    "active_loop": st.fixed_dictionaries({"name": st.sampled_from(["form", "should_not_be_set"])}),
}
state = st.fixed_dictionaries({}, optional=sub_states)
states = st.lists(state, min_size=1, max_size=4)


def _policy(remembers: bool) -> RulePolicy:
    policy = RulePolicy.__new__(RulePolicy)  # matching needs no trained parts
    if remembers:
        policy.__dict__[rule_matching._ON] = True
    return policy


@fuzz_settings(150)
@given(st.lists(states, min_size=1, max_size=12), st.lists(states, min_size=1, max_size=6))
def test_remembered_matches_are_rasas(rules, conversations):
    lookup = {json.dumps(rule): f"action_{i}" for i, rule in enumerate(rules)}
    theirs, ours = _policy(False), _policy(True)
    for conversation in conversations * 2:  # the second time from memory
        for end in range(1, len(conversation) + 1):
            seen = conversation[:end]
            assert set(ours._get_possible_keys(lookup, seen)) == theirs._get_possible_keys(lookup, seen)


def test_a_changed_rule_table_is_not_answered_from_memory():
    policy = _policy(True)
    conversation = [{"user": {"intent": "greet"}, "prev_action": {"action_name": "action_listen"}}]
    lookup = {json.dumps(conversation): "utter_greet"}
    assert policy._get_possible_keys(lookup, conversation) == {json.dumps(conversation)}
    lookup.clear()
    assert policy._get_possible_keys(lookup, conversation) == set()
    other = {json.dumps(conversation): "utter_hello"}  # another table, same states
    assert policy._get_possible_keys(other, conversation) == {json.dumps(conversation)}


def test_only_the_states_a_rule_can_reach_are_kept_and_never_a_message_text():
    policy = _policy(True)
    short = [{"user": {"intent": "greet"}, "prev_action": {"action_name": "action_listen"}}]
    lookup = {json.dumps(short): "utter_greet"}
    long_conversation = [{"prev_action": {"action_name": "a1"}}] * 30 + short
    assert policy._get_possible_keys(lookup, long_conversation) == {json.dumps(short)}
    (_, _, longest, remembered), = policy.__dict__[rule_matching._MEMO].values()
    assert longest == 1 and all(len(key) == 1 for key in remembered)
    with_text = [{"user": {"text": "my name is Ann, 07700 900123"}, "prev_action": {"action_name": "action_listen"}}]
    policy._get_possible_keys(lookup, with_text)
    assert "Ann" not in repr(policy.__dict__[rule_matching._MEMO])


def test_a_policy_in_training_does_not_remember():
    policy = _policy(False)
    conversation = [{"user": {"intent": "greet"}}]
    policy._get_possible_keys({json.dumps(conversation): "x"}, conversation)
    assert rule_matching._MEMO not in policy.__dict__
