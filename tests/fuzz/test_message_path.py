"""Property-based fuzz of the in-process message path: every text a channel can hand over
(any unicode, lone surrogates, controls, injections, huge or empty) goes through command
neutralisation, triage normalisation, the triage engine and answer selection without an
unhandled exception, and what comes back is well formed (levels from the known set, spans
that point at what the patient typed, decisions that name real entries)."""
from __future__ import annotations

import json

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.channels.commands import neutralise
from bot.escalation.levels import LEVELS
from bot.knowledge.serving import FALLBACK_INTENT, FOLLOW_UP_INTENT, AnswerSelector, ServingConfig
from tests.fuzz.strategies import any_char, fuzz_settings, message_text

pytestmark = pytest.mark.filterwarnings("ignore")

WARNING = "I had my injections yesterday and now I have a fever"


@pytest.fixture(scope="module")
def engine():
    from bot.triage import TriageEngine

    return TriageEngine()


@pytest.fixture(scope="module")
def selector(kb):
    return AnswerSelector(kb, ServingConfig.load())


def _storable(text: str) -> None:
    """What a channel passes on must be encodable as UTF-8 (spaCy, SQLite and psycopg2 all
    encode) and free of NUL (PostgreSQL refuses it in text columns)."""
    text.encode("utf-8")
    assert "\x00" not in text


@fuzz_settings(200)
@given(message_text)
def test_neutralise_never_lets_a_command_through_and_cleans_what_cannot_be_stored(text):
    out = neutralise(text)
    assert not out.lstrip().startswith("/")
    _storable(out)
    assert neutralise(out) == out  # idempotent: a second channel hop changes nothing
    if not text.lstrip().startswith("/") and text.isprintable():
        assert out == text  # ordinary text is passed on untouched


@fuzz_settings(200)
@given(message_text)
def test_normaliser_keeps_a_map_back_to_every_typed_character(engine, text):
    norm, offsets = engine.normalise(text)
    assert isinstance(norm, str) and len(offsets) == len(norm)
    assert all(0 <= o < len(text) for o in offsets)
    assert offsets == sorted(offsets)  # the map never runs backwards
    norm.encode("utf-8")  # spaCy needs encodable text


def _well_formed(result, text: str, engine) -> None:
    assert result.level in LEVELS
    assert result.days_since_treatment is None or result.days_since_treatment >= 0
    counted = [f.level for f in result.findings if f.level != "none"]
    worst = max(counted, key=LEVELS.index) if counted else "none"
    assert result.level == worst
    # A finding is a rule sign, a red-flag group found by similarity (with its score), or the
    # protocol's sepsis combination.
    groups = {g.name.upper() for g in engine.semantic.groups} if engine.semantic else set()
    for f in result.findings:
        assert f.level in LEVELS and f.source in ("rule", "similarity")
        assert f.label in engine.rules.signs or f.label in groups or f.label == "SEPSIS_SIGNS"
        assert f.source == "rule" or 0.0 <= f.score <= 1.0
        assert 0 <= f.start <= f.end <= len(text)
        assert f.text == text[f.start:f.end]  # the span staff see is what the patient typed
    json.dumps(result.as_dict())  # goes into the tracker as JSON


@fuzz_settings(200)
@given(message_text, st.one_of(st.none(), st.integers(0, 400)), st.booleans())
def test_triage_never_crashes_and_its_result_is_well_formed(engine, text, days, treated):
    result = engine.assess(text, days=days, treated=treated)
    _well_formed(result, text, engine)
    for start, end in engine.denied_spans(text):
        assert 0 <= start < end <= len(text)


# Noise without Latin letters cannot carry an English negation, question or third person;
# it must never hide a warning sign that follows it as its own sentence.
noise = st.text(st.characters(codec=None, exclude_categories=("Lu", "Ll", "Lt", "Lm", "Lo", "Nl")),
                max_size=60).filter(lambda s: "?" not in s)


@fuzz_settings(100)
@given(noise, st.sampled_from(["مرحبا", "שלום", "你好", "😀😀", "", "<script>alert(1)</script>"]))
def test_noise_before_a_warning_sign_never_hides_it(engine, junk, greeting):
    text = f"{greeting} {junk}\n\n{WARNING}"
    assume(not any(c.isascii() and c.isalpha() for c in junk))
    result = engine.assess(text)
    _well_formed(result, text, engine)
    assert result.level == "urgent", [(f.label, f.modifiers, f.why) for f in result.findings]


@fuzz_settings(100)
@given(st.lists(st.tuples(st.integers(0, len(WARNING)),
                          st.sampled_from(["\u200b", "\u200c", "\u200d", "\u00ad", "\u2060", "\ufeff", "\u200e"])),
                max_size=6))
def test_invisible_characters_inside_a_warning_sign_never_hide_it(engine, inserts):
    text = WARNING
    for index, char in sorted(inserts, reverse=True):
        text = text[:index] + char + text[index:]
    result = engine.assess(text)
    _well_formed(result, text, engine)
    assert result.level == "urgent"


def _ranking(intents):
    name = st.sampled_from(intents + [FALLBACK_INTENT, FOLLOW_UP_INTENT, "out_of_scope", "greet", ""])
    item = st.fixed_dictionaries({"name": st.one_of(name, st.text(any_char, max_size=10), st.none()),
                                  "confidence": st.one_of(st.floats(0, 1), st.none())})
    return st.lists(item, max_size=8)


@pytest.fixture(scope="module")
def intents(kb):
    return [e.intent for e in kb]


@fuzz_settings(200)
@given(data=st.data())
def test_answer_selection_only_serves_real_entries_above_the_threshold(selector, kb, intents, data):
    text = data.draw(message_text)
    ranking = data.draw(_ranking(intents))
    last = data.draw(st.one_of(st.none(), st.sampled_from([e.id for e in kb]), st.text(max_size=8)))
    d = selector.decide(text, ranking, last)
    assert d.kind in ("answer", "suggest", "no_answer")
    ids = {e.id for e in kb}
    if d.kind == "answer":
        assert d.entry is not None and d.entry.id in ids
        if d.how == "classifier":
            assert d.confidence >= selector.config.answer_threshold
    else:
        assert d.entry is None
    if d.kind == "suggest":
        assert 1 <= len(d.suggestions) <= selector.config.max_suggestions
    assert all(s.id in ids for s in d.suggestions)


@fuzz_settings(100)
@given(data=st.data())
def test_a_suggestion_button_lands_on_its_entry_whatever_the_ranking(selector, kb, intents, data):
    """The button payload is the entry's title: matched exactly, so no ranking (or noise in
    case and punctuation) can serve another entry."""
    entry = data.draw(st.sampled_from(list(kb)))
    decorate = data.draw(st.sampled_from([str, str.upper, str.lower, lambda s: f"  {s}?!", lambda s: s + " ..."]))
    d = selector.decide(decorate(entry.title), data.draw(_ranking(intents)), None)
    assert d.kind == "answer" and d.entry.id == entry.id
