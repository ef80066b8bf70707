"""The figures the triage and answer issues are judged on, from one or more eval reports.

    python -m bot.eval.figures reports/blind1_triage-report.json [...] [--markdown]

Per report: emergency recall (the emergency reply and an escalation), urgent recall
(escalated), false escalations among the other turns, triage level accuracy, answer
accuracy, `none` questions served an entry, and for topic questions not answered outright,
how often the right entry was the first suggestion. Case ids of the form
`<set>-<group>-<n>` also give recall per protocol group.
"""
from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List

from bot.eval.cases import CONVERSATIONAL

ESCALATING = ("urgent", "emergency")


def _ratio(a: int, b: int):
    return round(a / b, 4) if b else None


def figures(report: Dict[str, Any]) -> Dict[str, Any]:
    turns = [t for c in report["cases"] for t in c["turns"]]
    emergencies = [t for t in turns if t.get("expected_triage") == "emergency"]
    urgents = [t for t in turns if t.get("expected_triage") == "urgent"]
    others = [t for t in turns if t.get("expected_triage") not in ESCALATING]
    answered = [t for t in turns if t.get("expected_answer") is not None]
    topic_qs = [t for t in answered if t["expected_answer"] not in ("none", *CONVERSATIONAL)]
    not_outright = [t for t in topic_qs if t["answer"] != t["expected_answer"]]
    first_suggestion = [t for t in not_outright
                        if (t.get("suggested") or [None])[0] == t["expected_answer"]]
    none_qs = [t for t in answered if t["expected_answer"] == "none"]
    return {
        "turns": len(turns),
        "emergency_recall": _ratio(sum(t["triage"] == "emergency" and t["escalated"] for t in emergencies),
                                   len(emergencies)),
        "emergencies": len(emergencies),
        "urgent_recall": _ratio(sum(bool(t["escalated"]) for t in urgents), len(urgents)),
        "urgents": len(urgents),
        "false_escalations": _ratio(sum(bool(t["escalated"]) for t in others), len(others)),
        "others": len(others),
        "level_accuracy": _ratio(sum(t["triage"] == (t.get("expected_triage") or "none") for t in turns),
                                 len(turns)),
        "answer_accuracy": _ratio(sum(t["answer"] == t["expected_answer"] for t in answered), len(answered)),
        "answer_turns": len(answered),
        "none_served_entry": sum(t["answer"] not in ("none", *CONVERSATIONAL) for t in none_qs),
        "none_turns": len(none_qs),
        "first_suggestion_right": _ratio(len(first_suggestion), len(not_outright)),
        "not_answered_outright": len(not_outright),
    }


def per_group(report: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    groups: Dict[str, List[dict]] = defaultdict(list)
    for case in report["cases"]:
        m = re.match(r"^[^-]+-([a-z_]+)-\d+$", case["id"])
        if m:
            groups[m.group(1)] += case["turns"]
    out = {}
    for group, turns in sorted(groups.items()):
        expected = turns[0].get("expected_triage") or "none"
        if expected in ESCALATING:
            hit = sum(t["triage"] == expected and t["escalated"] if expected == "emergency"
                      else bool(t["escalated"]) for t in turns)
        else:
            hit = sum(t["triage"] == expected for t in turns)
        out[group] = {"expected": expected, "cases": len(turns), "right": hit, "rate": _ratio(hit, len(turns))}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.eval.figures")
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--groups", action="store_true", help="recall per protocol group from case ids")
    args = parser.parse_args(argv)
    for path in args.reports:
        report = json.loads(path.read_text(encoding="utf-8"))
        print(path.name, json.dumps(figures(report)))
        if args.groups:
            for group, row in per_group(report).items():
                print(f"  {group}: {row}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
