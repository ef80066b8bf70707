"""Tune the answer thresholds in knowledge/serving.yml on labelled questions.

    python -m bot.knowledge.tune tests/eval/holdout.yml [--model models/assistant.tar.gz]

Parses every scored question turn with the trained model once, then replays the real
AnswerSelector over the rankings for each candidate threshold. The recommendation is the
most accurate setting that serves no entry for any `none` question (honesty first); ties go
to the higher, more cautious threshold.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from pathlib import Path
from typing import List, Tuple

from bot.config import paths
from bot.config.logging_setup import configure_logging

CONVERSATIONAL_INTENTS = {"greet": "greeting", "goodbye": "goodbye", "thanks": "thanks",
                          "bot_identity": "bot_identity", "ask_human": "human",
                          "privacy": "privacy", "delete_data": "delete_data"}
SKIP_INTENTS = ("report_symptom",)


def predicted_label(selector, text: str, ranking: List[dict]) -> str:
    top = next((r["name"] for r in ranking if r["name"] != "nlu_fallback"), None)
    fallback = ranking and ranking[0]["name"] == "nlu_fallback"
    if top in CONVERSATIONAL_INTENTS and not fallback:
        return CONVERSATIONAL_INTENTS[top]
    ranking = [r for r in ranking if r["name"] not in SKIP_INTENTS]
    decision = selector.decide(text, ranking)
    return decision.entry.topic if decision.kind == "answer" else "none"


async def _rankings(model: Path, files: List[Path]) -> List[Tuple[str, str, List[dict]]]:
    from rasa.core.agent import Agent

    from bot import rasa_ext
    from bot.eval.cases import load_cases
    from bot.knowledge.loader import load_topics

    rasa_ext.install_for_rasa()  # this process runs Rasa: as the server does
    agent = Agent.load(str(model))
    rows = []
    for f in files:
        for case in load_cases(f, load_topics()):
            for turn in case.turns:
                if turn.answer is None or turn.triage != "none":
                    continue
                parsed = await agent.parse_message(turn.say)
                rows.append((turn.say, turn.answer, parsed.get("intent_ranking") or []))
    return rows


def sweep(rows, kb, base) -> List[dict]:
    from bot.knowledge.serving import AnswerSelector

    results = []
    for answer in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6):
        cfg = replace(base, answer_threshold=answer, suggest_threshold=min(base.suggest_threshold, answer))
        sel = AnswerSelector(kb, cfg)
        labels = [(predicted_label(sel, text, rk), expected) for text, expected, rk in rows]
        correct = sum(p == e for p, e in labels)
        served_none = sum(e == "none" and p not in ("none", *CONVERSATIONAL_INTENTS.values()) for p, e in labels)
        results.append({"answer_threshold": answer, "accuracy": correct / len(labels),
                        "none_served": served_none, "turns": len(labels)})
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.knowledge.tune", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--model", type=Path, default=paths.MODEL_FILE)
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    from bot.knowledge.loader import load_knowledge_base
    from bot.knowledge.serving import ServingConfig
    from bot.model import verified_model

    rows = asyncio.run(_rankings(verified_model(args.model), args.files))
    results = sweep(rows, load_knowledge_base(), ServingConfig.load())
    print("answer_threshold  accuracy  none_served")
    for r in results:
        print(f"{r['answer_threshold']:>16.2f}  {r['accuracy']:.3f}     {r['none_served']}")
    honest = [r for r in results if r["none_served"] == 0] or results
    best = max(honest, key=lambda r: (round(r["accuracy"], 6), r["answer_threshold"]))
    print(f"recommended answer_threshold: {best['answer_threshold']} "
          f"(accuracy {best['accuracy']:.3f} on {best['turns']} turns, no entry served for a none question)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
