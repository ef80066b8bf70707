"""Turn a finished conversation turn into the report's labels, and sum up a run."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List

from bot.escalation.levels import ESCALATING_LEVELS, more_serious
from bot.eval.cases import CONVERSATIONAL

# Responses Rasa sends by itself (domain/), by the rule that sends them.
UTTER_LABELS = {"utter_greet": "greeting", "utter_goodbye": "goodbye", "utter_thanks": "thanks",
                "utter_bot_identity": "bot_identity", "utter_privacy": "privacy"}


def answer_label(bot_metadata: Iterable[Dict[str, Any]]) -> str:
    """The knowledge topic served in the turn (the first, if several), else the
    conversational label of the reply, else `none`."""
    metadata = list(bot_metadata)
    for md in metadata:
        if md.get("kb_topic"):
            return md["kb_topic"]
    for md in metadata:
        label = UTTER_LABELS.get(md.get("utter_action")) or md.get("label")
        if label in CONVERSATIONAL:
            return label
    return "none"


def triage_level(parse_data: Dict[str, Any], bot_metadata: Iterable[Dict[str, Any]]) -> str:
    """The level the assistant acted on: the NLU triage step's, raised by the triage action
    when earlier turns (e.g. the treatment date) made it more serious."""
    level = ((parse_data or {}).get("triage") or {}).get("level") or "none"
    for md in bot_metadata:
        if md.get("triage_level"):
            level = more_serious(level, md["triage_level"])
    return level


def summarise(turns: List[Dict[str, Any]]) -> Dict[str, Any]:
    answered = [t for t in turns if t.get("expected_answer") is not None]
    correct = [t for t in answered if t["answer"] == t["expected_answer"]]
    none_turns = [t for t in answered if t["expected_answer"] == "none"]
    none_served = [t for t in none_turns if t["answer"] not in ("none", *CONVERSATIONAL)]
    must_escalate = [t for t in turns if t["expected_triage"] in ESCALATING_LEVELS]
    escalated_ok = [t for t in must_escalate if t["escalated"]]
    must_not = [t for t in turns if t["expected_triage"] not in ESCALATING_LEVELS]
    wrongly = [t for t in must_not if t["escalated"]]
    level_ok = [t for t in turns if t["triage"] == t["expected_triage"]]

    def ratio(a, b):
        return round(len(a) / len(b), 4) if b else None

    return {
        "turns": len(turns),
        "answer_turns": len(answered),
        "answer_accuracy": ratio(correct, answered),
        "none_turns": len(none_turns),
        "none_turns_served_an_entry": len(none_served),
        "triage_level_accuracy": ratio(level_ok, turns),
        "escalation_turns": len(must_escalate),
        "escalation_recall": ratio(escalated_ok, must_escalate),
        "false_escalation_rate": ratio(wrongly, must_not),
        "answer_errors": [{"say": t["say"], "expected": t["expected_answer"], "got": t["answer"]}
                          for t in answered if t["answer"] != t["expected_answer"]],
        "triage_errors": [{"say": t["say"], "expected": t["expected_triage"], "got": t["triage"],
                           "escalated": t["escalated"]}
                          for t in turns if t["triage"] != t["expected_triage"]
                          or (t["expected_triage"] in ESCALATING_LEVELS) != t["escalated"]],
    }
