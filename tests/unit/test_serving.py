"""The answer selector serves only confident answers, suggests when unsure, and never guesses."""
import pytest

from bot.knowledge.serving import AnswerSelector, ServingConfig

CFG = ServingConfig(answer_threshold=0.5, suggest_threshold=0.2, max_suggestions=3, follow_up_window=3)


@pytest.fixture(scope="module")
def selector(kb):
    return AnswerSelector(kb, CFG)


def rank(*pairs):
    return [{"name": n, "confidence": c} for n, c in pairs]


def test_confident_answer_is_served(selector):
    d = selector.decide("anything", rank(("kb_side_effects", 0.9), ("kb_safety", 0.05)))
    assert d.kind == "answer" and d.entry.id == "side_effects" and d.how == "classifier"


def test_low_confidence_offers_suggestions_not_an_answer(selector):
    d = selector.decide("hmm", rank(("kb_side_effects", 0.4), ("kb_safety", 0.3), ("kb_follow_up", 0.1)))
    assert d.kind == "suggest"
    assert [e.id for e in d.suggestions] == ["side_effects", "safety"]


def test_fallback_on_top_means_low_confidence(selector):
    d = selector.decide("hmm", rank(("nlu_fallback", 0.3), ("kb_side_effects", 0.6)))
    assert d.kind == "suggest" and d.suggestions[0].id == "side_effects"


def test_out_of_scope_is_never_answered(selector):
    d = selector.decide("price?", rank(("out_of_scope", 0.7), ("kb_side_effects", 0.25)))
    assert d.kind == "no_answer" and d.how == "out_of_scope"


def test_nothing_close_is_an_honest_no_answer(selector):
    d = selector.decide("zzz", rank(("kb_side_effects", 0.1), ("kb_safety", 0.05)))
    assert d.kind == "no_answer"


def test_exact_question_of_an_entry_is_served_whatever_the_ranking(selector, kb):
    q = kb.get("dandruff").questions[0]
    d = selector.decide(q.upper() + "!", rank(("out_of_scope", 0.9)))
    assert d.kind == "answer" and d.entry.id == "dandruff" and d.how == "exact_question"


def test_follow_up_resolves_to_the_last_entry(selector):
    d = selector.decide("how long does that last?", rank(("follow_up", 0.9)), last_entry_id="side_effects")
    assert d.kind == "answer" and d.entry.id == "side_effects" and d.how == "follow_up"


def test_follow_up_without_a_previous_topic_is_not_answered(selector):
    d = selector.decide("how long does that last?", rank(("follow_up", 0.9)), last_entry_id=None)
    assert d.kind == "no_answer" and d.how == "follow_up_without_topic"


def test_serving_config_is_strict(tmp_path):
    p = tmp_path / "serving.yml"
    p.write_text("answer_treshold: 0.5\n")
    with pytest.raises(ValueError, match="answer_treshold"):
        ServingConfig.load(p)
    p.write_text("answer_threshold: 0.2\nsuggest_threshold: 0.4\n")
    with pytest.raises(ValueError, match="suggest_threshold"):
        ServingConfig.load(p)


def test_shipped_serving_config_loads():
    cfg = ServingConfig.load()
    assert 0 < cfg.suggest_threshold <= cfg.answer_threshold < 1


# --- with the encoder's nearest questions (bot/knowledge/component.py) -----------------------

def clause(intent, score, runner_up="kb_benefits", runner_up_score=0.3, start=0, end=10, **scores):
    return {"start": start, "end": end, "intent": intent, "score": score, "runner_up": runner_up,
            "runner_up_score": runner_up_score, "scores": {intent: score, runner_up: runner_up_score, **scores}}


def test_a_clause_very_close_to_one_entry_is_answered_even_when_diet_is_unsure(selector):
    ranking = [{"name": "nlu_fallback", "confidence": 0.7}, {"name": "kb_benefits", "confidence": 0.2}]
    d = selector.decide("where do these things come from", ranking,
                        semantic={"clauses": [clause("kb_exosome_source", 0.86)]})
    assert (d.kind, d.entry.id, d.how) == ("answer", "exosome_source", "semantic")


def test_diet_and_the_encoder_agreeing_under_the_fallback_threshold_is_an_answer(selector):
    ranking = [{"name": "nlu_fallback", "confidence": 0.7}, {"name": "kb_recovery_downtime", "confidence": 0.25}]
    d = selector.decide("recuperation?", ranking, semantic={"clauses": [clause("kb_recovery_downtime", 0.66)]})
    assert (d.kind, d.entry.id) == ("answer", "recovery_downtime")


def test_closest_to_an_out_of_scope_question_is_never_served_whatever_diet_says(selector):
    ranking = [{"name": "kb_side_effects", "confidence": 0.9}]
    d = selector.decide("are the injections painful", ranking,
                        semantic={"clauses": [clause("out_of_scope", 0.84, "kb_side_effects", 0.62,
                                                     kb_side_effects=0.62)]})
    assert d.kind == "no_answer"


def test_two_questions_get_two_answers(selector):
    ranking = [{"name": "kb_results_timeline", "confidence": 0.8}]
    d = selector.decide("how long until results? and can I have a beer after?", ranking, semantic={"clauses": [
        clause("kb_results_timeline", 0.84, "kb_recovery_downtime", 0.5, 0, 24),
        clause("kb_aftercare_smoking_alcohol", 0.81, "kb_aftercare_diet", 0.55, 25, 52)]})
    assert d.kind == "answer" and d.entry.id == "results_timeline"
    assert d.also is not None and d.also.id == "aftercare_smoking_alcohol"
    statement = selector.decide("how long until results? I drank alcohol yesterday", ranking, semantic={"clauses": [
        clause("kb_results_timeline", 0.84, "kb_recovery_downtime", 0.5, 0, 24),
        clause("kb_aftercare_smoking_alcohol", 0.81, "kb_aftercare_diet", 0.55, 25, 50)]})
    assert statement.also is None  # a statement is not a second question


def test_suggestions_put_the_entry_both_signals_like_first(selector):
    ranking = [{"name": "nlu_fallback", "confidence": 0.8}, {"name": "kb_candidacy", "confidence": 0.25},
               {"name": "kb_benefits", "confidence": 0.2}]
    d = selector.decide("is this for people like me", ranking,
                        semantic={"clauses": [clause("kb_benefits", 0.58, "kb_candidacy", 0.57)]})
    assert d.kind == "suggest" and [e.id for e in d.suggestions][:2] == ["candidacy", "benefits"]


def test_a_personal_condition_or_an_activity_the_article_does_not_name_is_left_to_staff(kb):
    real = AnswerSelector(kb, ServingConfig.load())
    sure = {"clauses": [clause("kb_safety", 0.9, "kb_candidacy", 0.4)]}
    assert real.decide("is it safe for me", rank(("kb_safety", 0.9)), semantic=sure).kind == "answer"
    d = real.decide("I have type 2 diabetes, is it safe for me", rank(("kb_safety", 0.9)), semantic=sure)
    assert (d.kind, d.how) == ("no_answer", "personal_condition")
    rest = {"clauses": [clause("kb_aftercare_rest", 0.9, "kb_recovery_downtime", 0.4)]}
    assert real.decide("can I take a flight the day after", rank(("kb_aftercare_rest", 0.9)),
                       semantic=rest).how == "unnamed_activity"
    assert real.decide("should I rest the day after", rank(("kb_aftercare_rest", 0.9)),
                       semantic=rest).kind == "answer"



@pytest.mark.parametrize("text, entry, how", [
    ("what would a course of these cost me, roughly", "maintenance", "price"),
    ("is it cheaper than a transplant in the long run", "alternatives", "price"),
    ("my mum is on tablets for her blood pressure, would it suit her", "candidacy", "personal_medicine"),
    ("I'm on lithium for my mood, is it safe for me", "safety", "personal_medicine"),
    ("would it outperform minoxidil for a receding hairline", "benefits", "named_comparison"),
    ("is the serum halal", "what_are_exosomes", "product_attribute"),
    ("once injected, how long before the body clears them out of the bloodstream", "how_it_works", "in_the_body"),
])
def test_a_question_the_article_does_not_settle_gets_no_entry_text(kb, text, entry, how):
    real = AnswerSelector(kb, ServingConfig.load())
    sure = {"clauses": [clause(f"kb_{entry}", 0.9, "kb_safety", 0.4)]}
    d = real.decide(text, rank((f"kb_{entry}", 0.9)), semantic=sure)
    assert (d.kind, d.how) == ("no_answer", how)


@pytest.mark.parametrize("text, entry", [
    ("how much downtime should I expect", "recovery_downtime"),
    ("is it better than a hair transplant", "alternatives"),
    ("can I take my usual painkillers afterwards", "aftercare_nsaids"),
    ("how long do the results last", "maintenance"),
    ("will it help me pay less attention to my thinning crown", "benefits"),
])
def test_the_unsettled_kinds_leave_ordinary_questions_answered(kb, text, entry):
    real = AnswerSelector(kb, ServingConfig.load())
    sure = {"clauses": [clause(f"kb_{entry}", 0.9, "kb_safety", 0.4)]}
    assert real.decide(text, rank((f"kb_{entry}", 0.9)), semantic=sure).kind == "answer"


# --- the linear head's vote (bot/knowledge/component.py) --------------------------------------

UNSURE = [{"name": "nlu_fallback", "confidence": 0.7}, {"name": "kb_candidacy", "confidence": 0.25},
          {"name": "kb_benefits", "confidence": 0.2}]
NEAR_BENEFITS = [clause("kb_benefits", 0.58, "kb_candidacy", 0.57)]


def test_the_linear_head_sure_of_an_entry_another_signal_names_is_served(selector):
    d = selector.decide("what would it do for me", UNSURE, semantic={
        "clauses": NEAR_BENEFITS, "linear": {"intent": "kb_benefits", "prob": 0.75, "clause": 0}})
    assert (d.kind, d.entry.id, d.how) == ("answer", "benefits", "linear+vote")


def test_the_linear_head_alone_or_unsure_only_suggests(selector):
    alone = selector.decide("what would it do for me", UNSURE, semantic={
        "clauses": NEAR_BENEFITS, "linear": {"intent": "kb_safety", "prob": 0.9, "clause": 0}})
    assert alone.kind == "suggest"  # neither DIET's first entry nor the nearest question names safety
    unsure = selector.decide("what would it do for me", UNSURE, semantic={
        "clauses": NEAR_BENEFITS, "linear": {"intent": "kb_benefits", "prob": 0.45, "clause": 0}})
    assert unsure.kind == "suggest"


def test_the_linear_head_never_overrules_a_confident_out_of_scope(selector):
    ranking = [{"name": "out_of_scope", "confidence": 0.95}, {"name": "kb_hair_care_routine", "confidence": 0.01}]
    d = selector.decide("who cuts hair well near here", ranking, semantic={
        "clauses": [clause("kb_hair_care_routine", 0.6, "out_of_scope", 0.56)],
        "linear": {"intent": "kb_hair_care_routine", "prob": 0.7, "clause": 0}})
    assert d.kind != "answer"


def test_a_clause_clearly_out_of_scope_stops_diets_pick_of_the_whole_message(selector):
    ranking = [{"name": "kb_alternatives", "confidence": 0.6}, {"name": "out_of_scope", "confidence": 0.2}]
    whole = [clause("kb_what_is_exosome_therapy", 0.9, "out_of_scope", 0.89, 0, 30, kb_alternatives=0.7),
             clause("out_of_scope", 0.84, "kb_alternatives", 0.72, 31, 60, kb_alternatives=0.72)]
    d = selector.decide("is your product better than the ones other clinics buy", ranking,
                        semantic={"clauses": whole})
    assert d.kind != "answer" or d.entry.id != "alternatives"
    one_part = [clause("kb_alternatives", 0.7, "out_of_scope", 0.6)]
    assert selector.decide("what else is there", ranking, semantic={"clauses": one_part}).kind == "answer"


# --- buttons beside the honest no-answer ---------------------------------------------------------

def test_an_unsure_no_answer_offers_the_nearest_entries_and_serves_none(selector):
    ranking = [{"name": "nlu_fallback", "confidence": 0.9}, {"name": "kb_benefits", "confidence": 0.05}]
    d = selector.decide("sidefx?", ranking, semantic={"clauses": [
        clause("kb_side_effects", 0.47, "kb_when_to_report", 0.44, kb_safety=0.2)]})
    assert d.kind == "no_answer" and d.entry is None
    assert [e.id for e in d.nearby] == ["side_effects", "when_to_report"]  # safety is not near


def test_nothing_near_means_no_buttons(selector):
    ranking = [{"name": "nlu_fallback", "confidence": 0.9}, {"name": "kb_benefits", "confidence": 0.05}]
    d = selector.decide("what's the capital of peru", ranking, semantic={"clauses": [
        clause("kb_side_effects", 0.2, "kb_when_to_report", 0.1)]})
    assert d.kind == "no_answer" and d.nearby == ()


def test_clearly_out_of_scope_offers_only_entries_close_in_meaning(selector):
    ranking = [{"name": "out_of_scope", "confidence": 0.9}, {"name": "kb_safety", "confidence": 0.3}]
    close = selector.decide("how long until it works, is it approved", ranking, semantic={"clauses": [
        clause("out_of_scope", 0.86, "kb_results_timeline", 0.7, kb_results_timeline=0.7)]})
    assert close.kind == "no_answer" and close.how == "out_of_scope"
    assert [e.id for e in close.nearby] == ["results_timeline"]  # DIET's 0.3 for safety is not meaning
    far = selector.decide("is the consultation free", ranking, semantic={"clauses": [
        clause("out_of_scope", 0.86, "kb_preparation", 0.5)]})
    assert far.kind == "no_answer" and far.nearby == ()


def test_entries_the_article_does_not_settle_for_the_patient_are_not_offered_either(kb):
    real = AnswerSelector(kb, ServingConfig.load())
    ranking = [{"name": "nlu_fallback", "confidence": 0.9}, {"name": "kb_safety", "confidence": 0.3},
               {"name": "kb_results_timeline", "confidence": 0.25}]
    near = {"clauses": [clause("kb_safety", 0.57, "kb_results_timeline", 0.56)]}
    assert {"safety", "results_timeline"} <= {e.id for e in real.decide("is it ok?", ranking, semantic=near).suggestions}
    pregnant = real.decide("I'm pregnant, is it ok?", ranking, semantic=near)
    offered = {e.id for e in (*pregnant.suggestions, *pregnant.nearby)}
    assert "safety" not in offered and "results_timeline" in offered
    only_safety = [{"name": "nlu_fallback", "confidence": 0.9}, {"name": "kb_safety", "confidence": 0.3}]
    alone = real.decide("I'm pregnant, is it ok?", only_safety,
                        semantic={"clauses": [clause("kb_safety", 0.57, "kb_benefits", 0.1)]})
    assert alone.kind == "no_answer" and all(e.id != "safety" for e in (*alone.suggestions, *alone.nearby))


def test_the_linear_heads_pick_leads_the_buttons(selector):
    ranking = [{"name": "nlu_fallback", "confidence": 0.9}, {"name": "kb_candidacy", "confidence": 0.3},
               {"name": "kb_benefits", "confidence": 0.25}]
    near = [clause("kb_candidacy", 0.58, "kb_benefits", 0.56)]
    plain = selector.decide("would it do much for me", ranking, semantic={"clauses": near})
    assert plain.suggestions[0].id == "candidacy"
    led = selector.decide("would it do much for me", ranking, semantic={
        "clauses": near, "linear": {"intent": "kb_benefits", "prob": 0.5, "clause": 0}})
    assert led.kind == "suggest" and led.suggestions[0].id == "benefits"


def test_a_question_worded_like_a_follow_up_with_nothing_before_is_taken_on_its_own(selector):
    ranking = [{"name": "follow_up", "confidence": 0.8}, {"name": "kb_recovery_downtime", "confidence": 0.15}]
    d = selector.decide("how many days off work should i plan", ranking, last_entry_id=None,
                        semantic={"clauses": [clause("kb_recovery_downtime", 0.83, "kb_aftercare_rest", 0.7)]})
    assert (d.kind, d.entry.id) == ("answer", "recovery_downtime")
    # Still a follow-up when there is a topic to follow up on.
    d = selector.decide("how many days off work should i plan", ranking, last_entry_id="aftercare_rest",
                        semantic={"clauses": [clause("kb_recovery_downtime", 0.83, "kb_aftercare_rest", 0.7)]})
    assert d.entry.id == "aftercare_rest" and d.how == "follow_up"
    vague = selector.decide("how long is that for?", ranking, last_entry_id=None,
                            semantic={"clauses": [clause("kb_recovery_downtime", 0.42, "kb_aftercare_rest", 0.41)]})
    assert (vague.kind, vague.how) == ("no_answer", "follow_up_without_topic")
    assert [e.id for e in vague.nearby][:1] == ["recovery_downtime"]


def test_a_clause_nearest_to_an_out_of_scope_question_never_opens_the_linear_vote(selector):
    """Found by review: the out-of-scope clause's runner-up entries may become buttons, never
    the "did you mean" that lets the linear head serve an entry."""
    ranking = [{"name": "nlu_fallback", "confidence": 0.8}, {"name": "greet", "confidence": 0.1}]
    d = selector.decide("how long do i rest up, and is it fda approved", ranking, semantic={
        "clauses": [clause("kb_aftercare_rest", 0.5, "kb_recovery_downtime", 0.45, 0, 20),
                    clause("out_of_scope", 0.65, "kb_safety", 0.58, 22, 45)],
        "linear": {"intent": "kb_aftercare_rest", "prob": 0.65, "clause": 0}})
    assert d.kind == "no_answer"
    assert {e.id for e in d.nearby} >= {"aftercare_rest", "safety"}
