"""The guided red-flag check's data (triage/guided_check.yml): every button's answer is read by
the triage step at the level it stands for, fits Telegram's callback data, and the file is
checked strictly."""
from pathlib import Path

import pytest
import yaml

from bot.triage import TriageEngine
from bot.triage.guided_check import CALLBACK_LIMIT, guided_check, load_guided_check
from bot.triage.rules import PROTOCOL, TriageRulesError


@pytest.fixture(scope="module")
def engine():
    return TriageEngine()


@pytest.mark.parametrize("question", guided_check().questions, ids=lambda q: q.title[:40])
def test_each_yes_is_escalated_at_its_level(engine, question):
    assert engine.assess(question.answer).level == question.level
    assert len(question.answer.encode("utf-8")) <= CALLBACK_LIMIT


def test_none_of_these_is_not_a_symptom(engine):
    assert engine.assess(guided_check().none_answer).level == "none"


def test_the_questions_cover_every_escalating_row_of_the_protocol():
    covered = {row for q in guided_check().questions for row in q.protocol}
    assert covered == set(PROTOCOL["emergency"]) | set(PROTOCOL["urgent"])


def test_a_too_long_answer_is_refused_by_name(tmp_path):
    raw = yaml.safe_load((Path(__file__).parents[2] / "triage" / "guided_check.yml").read_text())
    raw["questions"][0]["answer"] = "Yes: " + "very " * 20 + "bad"
    bad = tmp_path / "guided_check.yml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(TriageRulesError, match="question 1: answer.*bytes"):
        load_guided_check(bad)
