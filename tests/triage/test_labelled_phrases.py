"""The triage step on the labelled phrase set (tests/triage/labelled_phrases.yml).

One phrase, one assertion: emergency and urgent phrases must never be missed, and phrases
that are not warning signs must not raise an alarm."""
from pathlib import Path

import pytest
import yaml

from bot.triage import TriageEngine

PHRASES = yaml.safe_load((Path(__file__).parent / "labelled_phrases.yml").read_text())["phrases"]


@pytest.fixture(scope="module")
def engine():
    return TriageEngine()


def test_the_set_is_large_and_covers_every_level():
    levels = [p["level"] for p in PHRASES]
    assert len(PHRASES) >= 150
    assert {lv: levels.count(lv) for lv in set(levels)}.keys() == {"emergency", "urgent", "routine", "none"}
    tags = {t for p in PHRASES for t in p.get("tags", [])}
    assert {"negation", "hypothetical", "typo", "third-party", "days"} <= tags


@pytest.mark.parametrize("case", PHRASES, ids=[p["text"][:60] for p in PHRASES])
def test_phrase(engine, case):
    result = engine.assess(case["text"], days=case.get("days"))
    assert result.level == case["level"], [(f.label, f.text, f.modifiers, f.why) for f in result.findings]
