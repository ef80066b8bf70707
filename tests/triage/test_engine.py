"""Behaviour of the triage engine that the level alone does not show."""
import pytest

from bot.triage import TriageEngine


@pytest.fixture(scope="module")
def engine():
    return TriageEngine()


def test_spans_point_at_what_the_patient_typed(engine):
    text = "Day 2 and there's PUS coming out, and a fevr"
    result = engine.assess(text)
    spans = {f.label: text[f.start:f.end] for f in result.counted}
    assert spans["PUS_OR_DISCHARGE"] == "PUS"
    assert spans["FEVER"] == "fevr"  # typo corrected for matching, original kept for staff


def test_negated_and_hypothetical_signs_are_kept_but_do_not_count(engine):
    result = engine.assess("no fever, but what if I get chills?")
    assert result.level == "none"
    mods = {f.label: f.modifiers for f in result.findings}
    assert "NEGATED" in mods["FEVER"] and "HYPOTHETICAL" in mods["CHILLS"]


def test_the_same_words_mean_more_later(engine):
    assert engine.assess("the swelling is still there", days=1).level == "routine"
    assert engine.assess("the swelling is still there", days=8).level == "urgent"


def test_context_from_earlier_turns_only_adds(engine):
    assert engine.assess("my son has a fever").level == "none"
    assert engine.assess("my son has a fever", treated=True).level == "urgent"


def test_a_real_word_is_not_corrected_into_a_sign(engine):
    assert engine.assess("does the injection hurt while it is being done?").level != "urgent"
    assert all(f.label != "INFECTION" for f in engine.assess("I had my injection").findings)


def test_age_is_not_a_temperature(engine):
    assert engine.assess("I'm 41 and have thin hair, how soon do results show?").level == "none"
    assert engine.assess("my temperature is 39.2").level == "urgent"


def test_empty_and_odd_input(engine):
    for text in ("", "   ", "🙂🙂", "\x00\x01", "a" * 20000):
        assert engine.assess(text).level == "none"
