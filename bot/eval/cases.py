"""Load an evaluation file (format: ../shared/eval/README.md), strictly."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import yaml

CONVERSATIONAL = ("greeting", "goodbye", "thanks", "bot_identity", "human", "privacy", "delete_data")
LEVELS = ("emergency", "urgent", "routine", "none")
TURN_KEYS = ("say", "answer", "triage")


class CaseError(ValueError):
    pass


@dataclass(frozen=True)
class Turn:
    say: str
    answer: Optional[str]  # None: not scored
    triage: str  # absent in the file means "none"


@dataclass(frozen=True)
class Case:
    id: str
    turns: Tuple[Turn, ...]


def load_cases(path: Path, topics) -> List[Case]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CaseError(f"{path}: cannot read: {exc}") from exc
    raw_cases = (data or {}).get("cases") if isinstance(data, dict) else None
    if not isinstance(raw_cases, list):
        raise CaseError(f"{path}: expected a top-level 'cases:' list")
    valid_answers = set(topics) | set(CONVERSATIONAL) | {"none"}
    cases, seen = [], set()
    for i, raw in enumerate(raw_cases, 1):
        where = f"{path}: case {i}"
        if not isinstance(raw, dict) or "id" not in raw:
            raise CaseError(f"{where}: needs an 'id'")
        cid = str(raw["id"])
        if cid in seen:
            raise CaseError(f"{where}: duplicate id '{cid}'")
        seen.add(cid)
        raw_turns = raw.get("turns", [raw])
        if "turns" in raw and any(k in raw for k in TURN_KEYS):
            raise CaseError(f"{where} ({cid}): use either 'turns' or 'say', not both")
        if not isinstance(raw_turns, list) or not raw_turns:
            raise CaseError(f"{where} ({cid}): 'turns' must be a non-empty list")
        turns = []
        for j, t in enumerate(raw_turns, 1):
            tw = f"{where} ({cid}) turn {j}"
            if not isinstance(t, dict):
                raise CaseError(f"{tw}: expected say/answer/triage")
            unknown = set(t) - set(TURN_KEYS) - ({"id"} if "turns" not in raw else set())
            if unknown:
                raise CaseError(f"{tw}: unknown key(s) {sorted(unknown)}")
            if not isinstance(t.get("say"), str):
                raise CaseError(f"{tw}: 'say' must be text")
            answer = t.get("answer")
            if answer is not None and answer not in valid_answers:
                raise CaseError(f"{tw}: unknown answer label '{answer}'")
            level = t.get("triage", "none")
            if level not in LEVELS:
                raise CaseError(f"{tw}: unknown triage level '{level}'")
            turns.append(Turn(t["say"], answer, level))
        cases.append(Case(cid, tuple(turns)))
    return cases
