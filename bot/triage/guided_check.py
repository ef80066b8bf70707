"""The guided red-flag check (triage/guided_check.yml), loaded strictly."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Tuple

from bot.triage.rules import PROTOCOL_ROWS, RULES_DIR, TriageRulesError, read_yaml

CHECK_FILE = RULES_DIR / "guided_check.yml"
CALLBACK_LIMIT = 64  # bytes: Telegram's callback_data


@dataclass(frozen=True)
class Question:
    title: str
    answer: str
    level: str
    protocol: Tuple[str, ...]


@dataclass(frozen=True)
class GuidedCheck:
    questions: Tuple[Question, ...]
    none_title: str
    none_answer: str

    def buttons(self) -> List[Dict[str, str]]:
        return [{"title": q.title, "payload": q.answer} for q in self.questions] + \
               [{"title": self.none_title, "payload": self.none_answer}]


def _text(where: str, value, limit: int = 0) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TriageRulesError(f"{where}: must be a text")
    if limit and len(value.encode("utf-8")) > limit:
        raise TriageRulesError(f"{where}: {len(value.encode('utf-8'))} bytes; Telegram takes at most {limit}")
    return value.strip()


def load_guided_check(path: Path = CHECK_FILE) -> GuidedCheck:
    raw = read_yaml(path)
    if not isinstance(raw, dict) or set(raw) != {"questions", "none_of_these"}:
        raise TriageRulesError(f"{path}: expected the keys 'questions' and 'none_of_these'")
    questions = []
    for i, q in enumerate(raw["questions"] or [], 1):
        where = f"{path}: question {i}"
        if not isinstance(q, dict) or set(q) != {"title", "answer", "level", "protocol"}:
            raise TriageRulesError(f"{where}: expected title, answer, level and protocol")
        if q["level"] not in ("emergency", "urgent"):
            raise TriageRulesError(f"{where}: level must be emergency or urgent")
        rows = tuple(q["protocol"] or ())
        unknown = [r for r in rows if r not in PROTOCOL_ROWS]
        if unknown or not rows:
            raise TriageRulesError(f"{where}: protocol must name rows of the protocol; unknown: {unknown}")
        questions.append(Question(_text(f"{where}: title", q["title"]),
                                  _text(f"{where}: answer", q["answer"], CALLBACK_LIMIT), q["level"], rows))
    none = raw["none_of_these"] or {}
    if set(none) != {"title", "answer"}:
        raise TriageRulesError(f"{path}: none_of_these needs title and answer")
    return GuidedCheck(tuple(questions), _text(f"{path}: none_of_these.title", none["title"]),
                       _text(f"{path}: none_of_these.answer", none["answer"], CALLBACK_LIMIT))


@lru_cache(maxsize=1)
def guided_check() -> GuidedCheck:
    return load_guided_check()
