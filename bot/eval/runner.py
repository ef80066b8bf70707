"""Run evaluation cases through the real assistant (see bot.eval.driver) and score them."""
from __future__ import annotations

import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional

from bot.eval.cases import Case
from bot.eval.driver import running_assistant
from bot.eval.scoring import summarise


@lru_cache(maxsize=1)
def _topics_by_title() -> Dict[str, str]:
    from bot.knowledge.loader import load_knowledge_base

    return {e.title: e.topic for e in load_knowledge_base()}


def _suggested_topics(buttons: List[List[Dict[str, Any]]]) -> List[str]:
    """The entries offered as "Did you mean" buttons, in order (a button's title is its
    entry's title)."""
    by_title = _topics_by_title()
    return [by_title[b.get("title")] for group in buttons for b in group if b.get("title") in by_title]


def run(cases: List[Case], model_path: Path, work_dir: Optional[Path] = None) -> Dict[str, Any]:
    report_cases = []
    with running_assistant(model_path, work_dir) as assistant:
        for case in cases:
            # Each case is a new conversation with a sender id of its own.
            sender = f"eval-{case.id}-{uuid.uuid4().hex[:8]}"
            turns = []
            for turn in case.turns:
                out = assistant.say(sender, turn.say)
                turns.append({
                    "say": turn.say, "answer": out.answer, "triage": out.triage,
                    "escalated": out.escalated, "replies": out.replies,
                    "expected_answer": turn.answer, "expected_triage": turn.triage,
                    "entries": out.entries, "suggested": _suggested_topics(out.buttons),
                })
            report_cases.append({"id": case.id, "turns": turns})
    turns = [t for c in report_cases for t in c["turns"]]
    return {"cases": report_cases, "summary": summarise(turns)}
