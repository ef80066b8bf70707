"""The Rasa data derived from knowledge/ is up to date, deterministic and complete."""
from bot.knowledge.generate import HEADER, render_all, stale_files


def test_generated_files_are_up_to_date(kb):
    stale = stale_files(kb)
    assert not stale, f"run `python -m bot.knowledge build`: stale {stale}"


def test_rendering_is_deterministic(kb):
    assert render_all(kb) == render_all(kb)


def test_every_question_becomes_a_training_example_of_its_entry(kb):
    import yaml

    files = render_all(kb)
    nlu = next(text for p, text in files.items() if p.name == "knowledge_nlu.yml")
    assert nlu.startswith(HEADER)
    examples = {item["intent"]: item["examples"] for item in yaml.safe_load(nlu)["nlu"]}
    for entry in kb:
        lines = {line[2:] for line in examples[entry.intent].splitlines() if line}
        assert set(entry.questions) <= lines


def test_each_entry_has_a_rule_to_the_answer_action(kb):
    import yaml

    rules_text = next(t for p, t in render_all(kb).items() if p.name == "knowledge_rules.yml")
    rules = yaml.safe_load(rules_text)["rules"]
    intents = {r["steps"][0]["intent"] for r in rules}
    assert intents == {e.intent for e in kb}
    assert all(r["steps"][1]["action"] == "action_answer_question" for r in rules)
