"""Red flags by meaning (triage/red_flags.yml) together with the rules' modifiers.

Sentences here are written for these tests, none from an evaluation set. Each checks one
behaviour: a sign in lay words found by similarity, the safer level winning, and the form of
a message (questions, hedges, pleas, other people, figures of speech) not cancelling a sign
that is there now, while denials, suppositions and the past still set it aside.
"""
from pathlib import Path

import pytest
import yaml

from bot.triage import TriageEngine
from bot.triage.clauses import split_clauses
from bot.triage.rules import PROTOCOL, TriageRulesError
from bot.triage.semantic import load_bank


@pytest.fixture(scope="module")
def engine():
    return TriageEngine()


def level(engine, text, **kw):
    return engine.assess(text, **kw).level


# --- found by meaning, named for staff -------------------------------------------------------

def test_a_lay_airway_sign_with_no_rule_word_is_an_emergency_found_by_similarity(engine):
    result = engine.assess("my mouth and lips have ballooned, I sound like I have a cotton ball in my throat")
    assert result.level == "emergency"
    sim = [f for f in result.findings if f.source == "similarity" and f.level == "emergency"]
    assert sim and sim[0].protocol == "airway / allergic reaction" and 0 < sim[0].score <= 1
    assert "similarity" in sim[0].why and sim[0].text in "my mouth and lips have ballooned, I sound like I have a cotton ball in my throat"


def test_vision_changes_are_covered(engine):
    assert level(engine, "half of what I look at has gone grey and fuzzy on the left since lunch") == "emergency"


def test_a_seizure_told_by_what_it_looks_like(engine):
    assert level(engine, "my partner went stiff on the sofa and his arms were jerking for a minute") == "emergency"


def test_fever_as_a_number_is_urgent(engine):
    assert level(engine, "thermometer just said 38.7, had the jabs on friday") == "urgent"


def test_safer_level_wins_between_rules_and_similarity(engine):
    # The rules see a mild swelling; the meaning is an airway sign.
    result = engine.assess("some swelling, and my tongue feels too thick to talk properly")
    assert result.level == "emergency"


# --- the form of a message does not cancel a present sign ---------------------------------

@pytest.mark.parametrize("text", [
    "is it normal that my lips keep getting bigger since this morning?",
    "no big deal probably, but my throat feels tight and narrow",
    "sorry to be a pain, please don't call anyone, but I cannot breathe properly",
    "my wife thinks I'm fine but my face is drooping on one side",
])
def test_question_hedge_plea_or_another_person_does_not_cancel_an_emergency(engine, text):
    assert level(engine, text) == "emergency"


@pytest.mark.parametrize("text", [
    "could the injections make my lips swell? just asking before I book",
    "no swelling of the lips or tongue, all good",
    "years ago I had a reaction where my throat closed up, all fine since",
    "the price you quoted nearly gave me a heart attack",
    "our dog threw up twice this morning so I might be late",
    "my husband has the flu, can I still come tomorrow?",
    "my sister has a high fever right now but she has never had any treatment with you",
    "should I worry if it gets red?",
])
def test_suppositions_denials_the_past_figures_and_others_are_set_aside(engine, text):
    assert level(engine, text) == "none"


def test_a_question_about_a_state_already_there_counts(engine):
    assert level(engine, "is it a problem if one of the spots has turned into a hot hard lump?") == "urgent"


def test_a_mild_effect_said_to_be_mild_stays_routine(engine):
    assert level(engine, "scalp a little pink and a bit tender today, treatment was yesterday") == "routine"


def test_a_near_miss_is_kept_for_the_guided_check(engine):
    result = engine.assess("feeling a bit odd and off since the session")
    assert result.level in ("none", "routine")
    assert result.body_report


# --- clauses ----------------------------------------------------------------------------------

def test_clauses_split_at_sentences_and_new_statements():
    text = "Had the jabs on Monday, all fine, but since last night my lips swell. Help"
    assert [text[a:b] for a, b in split_clauses(text)] == [
        "Had the jabs on Monday, all fine", "but since last night my lips swell", "Help"]


def test_so_bad_is_not_a_clause_break():
    text = "the pain is so bad I can't sleep"
    assert [text[a:b] for a, b in split_clauses(text)] == [text]


# --- the bank is strict and covers the protocol ---------------------------------------------

def test_every_protocol_row_has_a_group_with_descriptions():
    groups = load_bank()
    covered = {(g.level, g.protocol) for g in groups}
    assert covered == {(lvl, row) for lvl, rows in PROTOCOL.items() for row in rows}
    assert all(len(g.descriptions) >= 5 for g in groups)


def test_an_unknown_key_or_uncovered_row_is_refused(tmp_path):
    raw = yaml.safe_load((Path(__file__).parents[2] / "triage" / "red_flags.yml").read_text())
    raw["groups"]["bleeding"]["treshold"] = 0.5
    bad = tmp_path / "red_flags.yml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(TriageRulesError, match="treshold"):
        load_bank(bad)
    del raw["groups"]["bleeding"]
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(TriageRulesError, match="urgent: bleeding"):
        load_bank(bad)


def test_a_description_its_own_word_filter_would_exclude_is_refused(tmp_path):
    raw = yaml.safe_load((Path(__file__).parents[2] / "triage" / "red_flags.yml").read_text())
    raw["groups"]["heart_circulation"]["descriptions"].append("i just feel off somehow")
    bad = tmp_path / "red_flags.yml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(TriageRulesError, match="i just feel off somehow"):
        load_bank(bad)


# --- second round: categories ------------------------------------------------------------------
# Written for these tests from the protocol's rows; none from an evaluation set.

@pytest.mark.parametrize("text", [
    "the plaster has been soaked with blood twice since lunch and it is still coming",
    "the needle hole on my temple keeps seeping blood even though I held a tissue on it for half an hour",
    "my scalp bleeds every time I touch it and it won't clot, I'm on warfarin",
    "one of the spots has not stopped dribbling blood since I got home",
])
def test_bleeding_that_pressure_or_time_did_not_stop_is_urgent(engine, text):
    assert level(engine, text, treated=True) in ("urgent", "emergency")


@pytest.mark.parametrize("text", [
    "got raised red bumps coming up on my legs and tummy since the jabs",
    "broke out in itchy blotches across my back this afternoon",
    "I feel dreadful, shivery and can't get out of bed since the session",
    "she's gone white as a ghost and clammy after her treatment",
    "a weight pressing on the middle of my chest since the injections",
    "a dusky purple patch has appeared around one injection spot",
    "the whole room keeps spinning since I got home from the clinic",
])
def test_everyday_wording_of_a_warning_sign_escalates(engine, text):
    assert level(engine, text, treated=True) in ("urgent", "emergency")


def test_gone_puffy_is_a_change_not_a_denial(engine):
    assert level(engine, "her tongue has gone all fat and puffy since the shots", treated=True) == "emergency"


@pytest.mark.parametrize("text", [
    "my hair treatment is next week and I'm shaking with nerves already",
    "I've had hay fever since I was little, well controlled, can I still book?",
    "could my eyelids puff up from the injections? asking before I book",
])
def test_nerves_long_standing_conditions_and_suppositions_are_not_reports(engine, text):
    assert level(engine, text) in ("none", "routine")


def test_a_person_said_to_be_fine_reports_no_sign(engine):
    result = engine.assess("had my injections this morning, a little pink on top, otherwise I'm absolutely fine")
    assert result.level == "routine"


def test_a_short_clause_with_no_word_of_the_heart_is_not_a_heart_emergency(engine):
    result = engine.assess("pulls a bit, and slightly swollen on top since the session this morning")
    assert result.level == "routine"


def test_a_sign_and_a_new_statement_are_compared_apart():
    text = "temp 39.4 and he doesn't know what day it is"
    assert [text[a:b] for a, b in split_clauses(text)] == ["temp 39.4", "and he doesn't know what day it is"]
    greeting = "hi there, and how long is the recovery"
    assert [greeting[a:b] for a, b in split_clauses(greeting)] == ["hi there", "and how long is the recovery"]
    assert [t[a:b] for t in ["red, hot and sore"] for a, b in split_clauses(t)] == ["red, hot and sore"]


# --- an independent review of round 2: signs its new cues had set aside, and ordinary sentences
# its new patterns had escalated. Written by the reviewer, none from an evaluation set.

@pytest.mark.parametrize("text, expected", [
    ("i bleed easily so the injection spot is still bleeding an hour later", "urgent"),
    ("i faint easily so i fainted twice today after the injections", "emergency"),
    ("i'm generally fit and well, crushing chest pain for the last hour", "emergency"),
    ("how quickly can my husband be seen, he has crushing chest pain", "emergency"),
    ("why would my lips swell up like this after the injection", "emergency"),
    ("he's not ok his face is drooping on one side", "emergency"),
    ("is this ok her smile is lopsided all of a sudden", "emergency"),
    ("i can't get my breathing under control", "emergency"),
    ("i can't get the bleeding under control", "urgent"),
    ("my dad had his session, does a drooping face mean a stroke?", "emergency"),
    ("sudden weakness in one half of my body", "emergency"),
])
def test_a_habit_a_question_or_a_reassurance_word_does_not_cancel_a_sign_here_now(engine, text, expected):
    assert level(engine, text, treated=True) == expected


@pytest.mark.parametrize("text", [
    "the lip swelling is gone already",
    "been two days without getting any fever",
    "i feel so bad for asking but can i move my appointment",
    "my palms get clammy when i'm nervous about needles",
    "everything is moving along nicely with my hair",
    "there's a tiny dark spot where the needle went in",
    "a bit of bleeding at first but it's fine, i just can't stop touching it",
    "itching a lot less than yesterday, thanks",
])
def test_ordinary_sentences_that_share_words_with_a_sign_do_not_escalate(engine, text):
    assert level(engine, text, treated=True) in ("none", "routine")


# --- round 3 of triage rules, by category (found on the tuning set tests/eval/tune_triage2.yml;
# these sentences are our own, none from an evaluation set).

@pytest.mark.parametrize("text, expected", [
    # "gone" with an article or describing words before the state is a change, not "gone away".
    ("high temperature and my feet have gone a strange mottled grey", "emergency"),
    # a longer way of saying the bleeding will not stop
    ("i can't get the little hole on the left side to stop bleeding", "urgent"),
])
def test_a_sign_told_in_a_longer_way_still_counts(engine, text, expected):
    assert level(engine, text, treated=True) == expected


@pytest.mark.parametrize("text", [
    # eagerness borrowed from a symptom word
    "honestly itching to get started, any slots next week?",
    "heart skipped a beat seeing my results this morning",
])
def test_a_figure_of_speech_is_not_a_report(engine, text):
    assert level(engine, text, treated=True) == "none"


# The independent review of round 3 found that broader cues tried in it (a life stage or "not
# since" anywhere in the sentence, "I suppose", "didn't get", any skipped beat) set these aside.
@pytest.mark.parametrize("text, expected", [
    ("I'm in my fifties, had the injections monday, crushing chest pain going into my left arm", "emergency"),
    ("in my teens i had a seizure and i just had another one after the injections", "emergency"),
    ("haven't peed at all, not since monday, and i've got a high fever", "emergency"),
    ("the bleeding from the injection site hasn't stopped, not since 3pm", "urgent"),
    ("i suppose my throat does feel like it's closing up a bit", "emergency"),
    ("let's say it's been bleeding for an hour and won't stop, what do i do", "urgent"),
    ("didn't get much sleep, chest pain all night after the injections", "emergency"),
    ("my heart skips a beat every few seconds when i lie down since the injections", "emergency"),
    ("when i was younger i had seizures, but today my lips are swelling up", "emergency"),
])
def test_an_age_a_hedge_or_a_time_word_does_not_set_aside_a_sign_here_now(engine, text, expected):
    assert level(engine, text, treated=True) == expected


# --- round 4: the group head and the protocol's combinations ----------------------------------

def test_the_group_head_makes_a_near_miss_count_and_says_so():
    """A match the head made count keeps its own similarity for staff and is as strong as its
    group's threshold for the decisions."""
    from bot.triage.semantic import Group, Match

    group = Group("vision", "emergency", "brain / nerves", 0.52, 0.45, ("my vision went blurry",))
    near = Match(group, 0.47, "my vision went blurry", 0, 10)
    sure = Match(group, 0.47, "my vision went blurry", 0, 10, head=0.9)
    assert not near.counts and near.strength == 0.47
    assert sure.counts and sure.strength == 0.52


def test_a_finding_the_head_made_names_it(engine):
    result = engine.assess("there's a shadow creeping over half of what i can see", treated=True)
    assert result.level == "emergency"
    assert any("group classifier" in f.why and f.protocol == "brain / nerves" for f in result.findings)


@pytest.mark.parametrize("text", [
    "she's curious too",
    "my dad is 80 and he's curious too, is there an age limit",
    "my husband is a bit sceptical but keen",
])
def test_the_head_does_not_count_a_clause_that_is_like_a_non_report(engine, text):
    assert level(engine, text, treated=True) == "none"


@pytest.mark.parametrize("text, expected", [
    # protocol, airway / allergic reaction: "feeling faint with a rash"
    ("i've come out in hives on my belly and i feel woozy", "emergency"),
    ("big itchy welts on both arms, and i'm so lightheaded i had to sit down", "emergency"),
    ("i've come out in hives on my belly", "urgent"),
    ("i feel woozy this evening", "urgent"),
    # sepsis: a high fever with very little urine or mottled skin; a sense of doom
    ("temp of 39 and i've hardly had a wee since yesterday", "emergency"),
    ("temperature of 102 and only a tiny amount of pee all day", "emergency"),
    ("barely any pee today", "urgent"),
    ("my knees look blotchy purple and i'm freezing", "emergency"),
    ("i have this feeling that something awful is going to happen", "emergency"),
    # chest pressure told as a weight
    ("it feels like a sack of sand is pressing down on my chest", "emergency"),
    # a change into a state is not "gone" (resolved)
    ("my right arm has gone heavy and useless", "emergency"),
])
def test_combinations_and_lay_words_the_protocol_lists(engine, text, expected):
    assert level(engine, text, treated=True) == expected


@pytest.mark.parametrize("text, expected", [
    # worse, told after "now"
    ("the swelling was small yesterday, now it's twice the size", "urgent"),
    ("redness was fine at first but now it's wider than my palm", "urgent"),
    ("the redness was quite bad on monday, now it's fading nicely", "routine"),
    ("the itching is a lot less than yesterday", "routine"),
])
def test_a_mild_effect_getting_worse_or_severe(engine, text, expected):
    assert level(engine, text, treated=True) == expected


@pytest.mark.parametrize("text", [
    "the soreness has gone, thanks for asking",
    "the bruise is completely gone now, can i book again?",
    "the swelling has gone down now",
])
def test_a_mild_effect_that_has_gone_is_over(engine, text):
    assert level(engine, text, treated=True) == "none"


# The independent review of round 4 found these set aside or escalated by cues tried in it (a
# "much better / a lot less" denial, "is gone" before a state, worsening after "now" without
# its negation, a sense of doom about the stock market, patterned veins or paint).
@pytest.mark.parametrize("text, expected", [
    ("breathing is a lot less easy than yesterday", "emergency"),
    ("i can see a lot less out of my left eye", "emergency"),
    ("my skin is much paler and clammy", "emergency"),
    ("i feel so much better apart from my throat feeling narrow", "emergency"),
    ("my arm's gone dead", "emergency"),
    ("my lip's gone massive", "emergency"),
    ("my hand's gone cold and blue", "emergency"),
    ("the redness was there on day 1, now it's no bigger", "routine"),
    ("swelling is mild and now it's not spreading", "routine"),
    ("a bit of swelling, now and then it feels bigger in the morning", "routine"),
    ("slight swelling, i'll check now if it's bigger tomorrow", "routine"),
    ("i have a feeling something bad is going to happen at work tomorrow", "none"),
    ("does anyone else feel like something bad is going to happen before the treatment?", "none"),
    ("my arms have patchy blue veins showing", "none"),
    ("my hands have purple and blue patches from painting", "none"),
    ("i've been peeing loads since i started drinking more water", "none"),
    ("my chest is bursting with pride at the results", "none"),
])
def test_round_four_review_sentences(engine, text, expected):
    assert level(engine, text, treated=True) == expected
