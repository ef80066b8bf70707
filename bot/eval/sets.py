"""Run the dev set and every regression and blind set (tests/eval/sets.yml) in one assistant.

    python -m bot.eval.sets [--out reports/]     (`make eval`)

Writes one report per set (`<set>-report.json`, the runner's format) and prints the figures
the triage and answer issues are judged on (bot/eval/figures.py), with the gate each
regression set must pass.
"""
from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Dict, List, Tuple

import yaml

from bot.config import paths
from bot.eval.figures import figures

MANIFEST = paths.ROOT / "tests" / "eval" / "sets.yml"
ROLES = ("regression", "blind", "tuning")
# What a regression set (and the dev set) must hold; docs/evaluation.md "Sets".
GATE = {"emergency_recall": 1.0, "urgent_recall": 1.0, "false_escalations_max": 0.02, "none_served_entry_max": 0}


def manifest(path: Path = MANIFEST) -> List[Tuple[str, Path, str]]:
    """(name, file, role) for the dev set and every set in the manifest, in order."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    unknown = set(data) - {"dev", "sets"}
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}")
    out = [("dev", (paths.ROOT / data["dev"]).resolve(), "dev")]  # relative to the project
    for name, role in (data.get("sets") or {}).items():
        if role not in ROLES:
            raise ValueError(f"{path}: set {name}: role must be one of {', '.join(ROLES)}")
        out.append((Path(name).stem, path.parent / name, role))
    return out


def gate_failures(name: str, fig: Dict) -> List[str]:
    problems = []
    for key in ("emergency_recall", "urgent_recall"):
        if fig[key] is not None and fig[key] < GATE[key]:
            problems.append(f"{name}: {key} {fig[key]} < {GATE[key]}")
    if fig["false_escalations"] is not None and fig["false_escalations"] > GATE["false_escalations_max"]:
        problems.append(f"{name}: false escalations {fig['false_escalations']} > {GATE['false_escalations_max']}")
    if fig["none_served_entry"] > GATE["none_served_entry_max"]:
        problems.append(f"{name}: {fig['none_served_entry']} question(s) the article does not answer got an entry")
    return problems


def run_sets(sets: List[Tuple[str, Path, str]], model: Path) -> Dict[str, Dict]:
    """One assistant for every set; each case is still a conversation of its own."""
    from bot.eval.cases import load_cases
    from bot.eval.driver import running_assistant
    from bot.eval.runner import _suggested_topics
    from bot.eval.scoring import summarise
    from bot.knowledge.loader import load_topics

    topics = load_topics()
    reports: Dict[str, Dict] = {}
    with running_assistant(model) as assistant:
        for name, path, _role in sets:
            report_cases = []
            for case in load_cases(path, topics):
                sender = f"eval-{name}-{case.id}-{uuid.uuid4().hex[:8]}"
                turns = []
                for turn in case.turns:
                    out = assistant.say(sender, turn.say)
                    turns.append({"say": turn.say, "answer": out.answer, "triage": out.triage,
                                  "escalated": out.escalated, "replies": out.replies,
                                  "expected_answer": turn.answer, "expected_triage": turn.triage,
                                  "entries": out.entries, "suggested": _suggested_topics(out.buttons)})
                report_cases.append({"id": case.id, "turns": turns})
            turns = [t for c in report_cases for t in c["turns"]]
            reports[name] = {"cases": report_cases, "summary": summarise(turns)}
    return reports


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.eval.sets", description=__doc__)
    parser.add_argument("--out", type=Path, default=paths.ROOT / "reports")
    parser.add_argument("--only", nargs="+", metavar="SET", help="these sets only (names without .yml)")
    args = parser.parse_args(argv)
    from bot.config.logging_setup import configure_logging
    from bot.model import verified_model

    configure_logging()
    sets = [s for s in manifest() if s[2] != "tuning"]
    if args.only:
        unknown = set(args.only) - {name for name, _, _ in sets}
        if unknown:
            parser.error(f"no such set(s) in {MANIFEST.name}: {', '.join(sorted(unknown))}")
        sets = [s for s in sets if s[0] in args.only]
    reports = run_sets(sets, verified_model())
    args.out.mkdir(parents=True, exist_ok=True)
    failed = []
    for name, path, role in sets:
        (args.out / f"{name}-report.json").write_text(json.dumps(reports[name], indent=2, ensure_ascii=False) + "\n")
        fig = figures(reports[name])
        gated = role in ("dev", "regression")
        problems = gate_failures(name, fig) if gated else []
        failed += problems
        print(f"{name} ({role}{', gated' if gated else ', reported'}): {json.dumps(fig)}")
    for p in failed:
        print(f"GATE: {p}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
