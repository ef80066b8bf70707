"""The triage rule files are strict: a typo names the file and the key."""
import shutil

import pytest

from bot.triage.rules import RULES_DIR, TriageRulesError, load_rules


@pytest.fixture
def rules_dir(tmp_path):
    target = tmp_path / "triage"
    shutil.copytree(RULES_DIR, target)
    return target


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_shipped_rules_load():
    rules = load_rules()
    assert rules.signs and rules.modifiers and rules.expected_mild_days >= 1


def test_unknown_level(rules_dir):
    edit(rules_dir / "signs.yml", "level: emergency", "level: critical")
    with pytest.raises(TriageRulesError, match=r"signs.yml: sign '\w+': key 'level'"):
        load_rules(rules_dir)


def test_unknown_key(rules_dir):
    edit(rules_dir / "signs.yml", "    phrases: [trouble breathing", "    phrase: [trouble breathing")
    with pytest.raises(TriageRulesError, match="unknown key 'phrase'"):
        load_rules(rules_dir)


def test_bare_no_is_explained(rules_dir):
    edit(rules_dir / "context.yml", '["no", not', "[no, not")
    with pytest.raises(TriageRulesError, match="put it in quotes"):
        load_rules(rules_dir)


def test_bad_regex(rules_dir):
    edit(rules_dir / "treatment.yml", "treated:\n", 'treated:\n  - "(unclosed"\n')
    with pytest.raises(TriageRulesError, match="treatment.yml: key 'treated': pattern 1"):
        load_rules(rules_dir)


def test_applies_to_names_a_real_sign(rules_dir):
    edit(rules_dir / "context.yml", "applies_to: [PAIN,", "applies_to: [PAINN,")
    with pytest.raises(TriageRulesError, match="unknown sign"):
        load_rules(rules_dir)
