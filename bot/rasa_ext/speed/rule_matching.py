"""The rule policy's rule matching, remembered per conversation state (docs/performance.md "Round 4").

On every prediction (several per message) Rasa's RulePolicy checks each learned rule against
the conversation's states, turn by turn: 5% of the Rasa server's CPU under load. Which rules
apply depends only on the rule table and on the last L states, L being the longest rule in
the table (Rasa's check passes any rule once it has looked further back than the rule is
long); a loaded model's table never changes, and those few last states repeat across
conversations all the time. So a loaded policy remembers the answer for the last L states
(bounded, least recently used first out). Not remembered: states holding the message's
text (Rasa's text-based pass; nothing a patient wrote is kept here), and policies being
trained or fine-tuned.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, Optional

from rasa.core.policies.rule_policy import RulePolicy
from rasa.shared.core.constants import USER
from rasa.shared.nlu.constants import TEXT

from bot.rasa_ext.registry import SPEED, replace

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


def _longest_rule(self: RulePolicy, lookup: Dict[str, str]) -> int:
    return max((len(self._rule_key_to_state(key)) for key in lookup), default=0)


def _get_possible_keys(self: RulePolicy, lookup: Dict[str, str], states: List[Any]) -> Any:
    if not self.__dict__.get(_ON):
        return _original_get_possible_keys(self, lookup, states)
    memos = self.__dict__.setdefault(_MEMO, {})
    held = memos.get(id(lookup))
    if held is None or held[0] is not lookup or held[1] != len(lookup):
        # The table itself is held (so its id is not reused), with its size and longest rule.
        held = memos[id(lookup)] = (lookup, len(lookup), _longest_rule(self, lookup), OrderedDict())
    _, _, longest, remembered = held
    relevant = states[-longest:] if longest else []
    key = None if any(TEXT in (state.get(USER) or {}) for state in relevant) else _frozen(relevant)
    if key is None:
        return _original_get_possible_keys(self, lookup, states)
    found = remembered.get(key)
    if found is None:
        # Rasa's own set, so that its order (which decides between rules of equal length)
        # is the one Rasa would have; the callers only test, iterate and take the longest.
        found = remembered[key] = _original_get_possible_keys(self, lookup, states)
        if len(remembered) > MAX_REMEMBERED:
            remembered.popitem(last=False)
    else:
        remembered.move_to_end(key)
    return found


def _load(cls: Any, *args: Any, **kwargs: Any) -> RulePolicy:
    policy = _original_load(cls, *args, **kwargs)
    context = kwargs.get("execution_context", args[3] if len(args) > 3 else None)
    if not getattr(context, "is_finetuning", False):  # fine-tuning trains the loaded policy
        policy.__dict__[_ON] = True
    return policy


replace(RulePolicy, "_get_possible_keys", _get_possible_keys, name="speed.rule_matches_remembered",
        kind=SPEED, library="rasa",
        why="a loaded rule policy remembers which rules match the last few states (5% of the "
            "server's CPU under load); Rasa's own answer, computed once per distinct state")
replace(RulePolicy, "load", classmethod(_load), name="speed.rule_matches_on_load", kind=SPEED, library="rasa",
        why="turns the remembering on for a loaded policy, never for one being fine-tuned")
