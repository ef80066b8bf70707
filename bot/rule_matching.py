"""The rule policy's rule matching, remembered per conversation state (README "Performance").

On every prediction (several per message) Rasa's RulePolicy checks each learned rule against
the conversation's states, turn by turn: 5% of the Rasa server's CPU under load. Which rules
apply is a pure function of the rule table and of the states; a loaded model's table never
changes, and conversations go through a modest number of distinct state sequences. So for a
loaded policy the answer is remembered, keyed by the states' exact contents (bounded, least
recently used first out). Training (where the table is being built and checked) is left as
it was: only policies loaded from a trained model remember.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, Optional

from rasa.core.policies.rule_policy import RulePolicy

MAX_REMEMBERED = 4096
_ON = "_clinic_remembers_rule_matches"
_MEMO = "_clinic_rule_matches"

_original_get_possible_keys = RulePolicy._get_possible_keys
_original_load = RulePolicy.load.__func__


def _frozen(states: List[Dict[str, Dict[str, Any]]]) -> Optional[tuple]:
    """The states as a hashable value, equal exactly when the states compare equal; None if
    a value cannot be hashed."""
    try:
        key = tuple(tuple((kind, tuple(sub.items())) for kind, sub in state.items()) for state in states)
        hash(key)
    except (AttributeError, TypeError):
        return None
    return key


def _get_possible_keys(self: RulePolicy, lookup: Dict[str, str], states: List[Any]) -> Any:
    if not self.__dict__.get(_ON):
        return _original_get_possible_keys(self, lookup, states)
    key = _frozen(states)
    if key is None:
        return _original_get_possible_keys(self, lookup, states)
    memos = self.__dict__.setdefault(_MEMO, {})
    held = memos.get(id(lookup))
    if held is None or held[0] is not lookup or held[1] != len(lookup):
        held = memos[id(lookup)] = (lookup, len(lookup), OrderedDict())  # the table, held: no id reuse
    remembered = held[2]
    found = remembered.get(key)
    if found is None:
        found = frozenset(_original_get_possible_keys(self, lookup, states))
        remembered[key] = found
        if len(remembered) > MAX_REMEMBERED:
            remembered.popitem(last=False)
    else:
        remembered.move_to_end(key)
    return found  # immutable: the callers only test, iterate and take the longest


def _load(cls: Any, *args: Any, **kwargs: Any) -> RulePolicy:
    policy = _original_load(cls, *args, **kwargs)
    policy.__dict__[_ON] = True
    return policy


RulePolicy._get_possible_keys = _get_possible_keys
RulePolicy.load = classmethod(_load)
