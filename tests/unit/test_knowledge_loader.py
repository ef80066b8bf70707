"""The knowledge loader accepts the real knowledge base and names file and field on errors."""
import shutil

import pytest

from bot.config import paths
from bot.knowledge.loader import KnowledgeError, load_knowledge_base

GOOD = """---
id: {id}
title: A title
questions:
{questions}
source:
  - "Results are often visible two months after treatment."
reviewed_by: pending
reviewed_on: pending
---
{answer}
"""
ANSWER = " ".join(["word"] * 50)


def entry(entry_id="results_timeline", questions=None, answer=ANSWER):
    qs = questions if questions is not None else [f"question number {i}?" for i in range(8)]
    return GOOD.format(id=entry_id, questions="\n".join(f"  - {q}" for q in qs), answer=answer)


@pytest.fixture
def kb_dir(tmp_path):
    """A copy of the real knowledge base to break one file at a time."""
    target = tmp_path / "entries"
    shutil.copytree(paths.ENTRIES_DIR, target)
    return target


def load(entries_dir):
    return load_knowledge_base(entries_dir=entries_dir)


def problems(entries_dir):
    with pytest.raises(KnowledgeError) as err:
        load(entries_dir)
    return err.value.problems


def test_real_knowledge_base_loads_and_covers_every_topic(kb):
    from bot.knowledge.loader import load_topics

    topics = load_topics()
    assert {e.topic for e in kb} >= set(topics)
    for e in kb:
        assert len(e.questions) >= 8
        assert 40 <= len(e.answer.split()) <= 120
        assert e.source


def test_topics_match_the_shared_list_when_present():
    shared = paths.ROOT.parent / "shared" / "knowledge-topics.yml"
    if not shared.exists():
        pytest.skip("../shared is not beside this checkout")
    import yaml

    assert yaml.safe_load(shared.read_text())["topics"].keys() == \
        yaml.safe_load(paths.TOPICS_FILE.read_text())["topics"].keys()


def test_missing_field_names_file_and_field(kb_dir):
    p = kb_dir / "results_timeline.md"
    p.write_text(p.read_text().replace("title:", "titel:", 1))
    found = problems(kb_dir)
    assert any("results_timeline.md" in m and "unknown field 'titel'" in m for m in found)
    assert any("results_timeline.md" in m and "field 'title' is missing" in m for m in found)


def test_duplicate_id_is_refused(kb_dir):
    (kb_dir / "results_timeline.md").rename(kb_dir / "copy.md")
    shutil.copy(kb_dir / "copy.md", kb_dir / "results_timeline.md")
    found = problems(kb_dir)
    assert any("copy.md" in m and "field 'id'" in m for m in found)


def test_unknown_topic_is_refused(kb_dir):
    (kb_dir / "price_list.md").write_text(entry("price_list"))
    found = problems(kb_dir)
    assert any("price_list.md" in m and "unknown topic 'price_list'" in m for m in found)


def test_empty_questions_are_refused(kb_dir):
    (kb_dir / "results_timeline.md").write_text(entry(questions=[]).replace("questions:\n", "questions: []\n"))
    found = problems(kb_dir)
    assert any("results_timeline.md" in m and "field 'questions'" in m for m in found)


def test_too_few_questions_are_refused(kb_dir):
    (kb_dir / "results_timeline.md").write_text(entry(questions=["when?", "how soon?"]))
    found = problems(kb_dir)
    assert any("results_timeline.md" in m and "2 distinct question(s), at least 8" in m for m in found)


def test_answer_length_is_checked(kb_dir):
    (kb_dir / "results_timeline.md").write_text(entry(answer="Two months."))
    found = problems(kb_dir)
    assert any("results_timeline.md" in m and "field 'answer' has 2 words" in m for m in found)


def test_source_must_be_quoted_from_the_article(kb_dir):
    text = entry().replace("Results are often visible two months after treatment.",
                           "Results are visible after two weeks.")
    (kb_dir / "results_timeline.md").write_text(text)
    found = problems(kb_dir)
    assert any("results_timeline.md" in m and "field 'source'" in m and "word for word" in m for m in found)


def test_missing_topic_is_reported(kb_dir):
    (kb_dir / "dandruff.md").unlink()
    found = problems(kb_dir)
    assert any("topic 'dandruff'" in m and "has no entry" in m for m in found)


def test_sub_entry_covers_its_topic(kb_dir):
    (kb_dir / "dandruff.md").rename(kb_dir / "dandruff.shampoo.md")
    p = kb_dir / "dandruff.shampoo.md"
    p.write_text(p.read_text().replace("id: dandruff", "id: dandruff.shampoo", 1))
    kb = load(kb_dir)
    assert kb.get("dandruff.shampoo").topic == "dandruff"
    assert kb.get("dandruff.shampoo").intent == "kb_dandruff__shampoo"


def test_long_title_is_refused(kb_dir):
    p = kb_dir / "results_timeline.md"
    text = p.read_text()
    start = text.index("title:")
    end = text.index("\n", start)
    p.write_text(text[:start] + "title: " + "A very long title " * 5 + text[end:])
    found = problems(kb_dir)
    assert any("results_timeline.md" in m and "field 'title'" in m and "at most 60" in m for m in found)


def test_file_name_must_match_id(kb_dir):
    (kb_dir / "results_timeline.md").rename(kb_dir / "timeline.md")
    found = problems(kb_dir)
    assert any("timeline.md" in m and "does not match the file name" in m for m in found)


def test_a_question_cannot_belong_to_two_entries(kb_dir, kb):
    q = kb.get("dandruff").questions[0]
    p = kb_dir / "results_timeline.md"
    p.write_text(p.read_text().replace("questions:\n", f"questions:\n  - \"{q}\"\n", 1))
    found = problems(kb_dir)
    assert any("results_timeline.md" in m and "also a question of entry 'dandruff'" in m for m in found)


def test_invalid_yaml_names_the_file_and_line(kb_dir):
    p = kb_dir / "results_timeline.md"
    p.write_text(p.read_text().replace("title:", "title: [unclosed", 1))
    found = problems(kb_dir)
    assert any("results_timeline.md" in m and "not valid YAML" in m for m in found)


def test_missing_front_matter(kb_dir):
    (kb_dir / "results_timeline.md").write_text("Just an answer without fields.\n")
    found = problems(kb_dir)
    assert any("results_timeline.md" in m and "front-matter" in m for m in found)


def test_review_sign_off(kb_dir):
    p = kb_dir / "results_timeline.md"
    text = p.read_text()
    p.write_text(text.replace("reviewed_by: pending", "reviewed_by: Dr Rivera"))
    assert any("reviewer 'Dr Rivera' signed but the date is 'pending'" in m for m in problems(kb_dir))
    p.write_text(text.replace("reviewed_by: pending", "reviewed_by: Dr Rivera")
                 .replace("reviewed_on: pending", "reviewed_on: 2999-01-01"))
    assert any("field 'reviewed_on'" in m and "future" in m for m in problems(kb_dir))
    p.write_text(text.replace("reviewed_by: pending", "reviewed_by: Dr Rivera")
                 .replace("reviewed_on: pending", "reviewed_on: 2026-11-20"))
    signed = load(kb_dir).get("results_timeline")
    assert signed.reviewed and signed.reviewed_on == "2026-11-20"


def test_every_problem_is_reported_at_once(kb_dir):
    (kb_dir / "dandruff.md").write_text("no front matter")
    (kb_dir / "nutrition.md").write_text(entry("nutrition", answer="short"))
    found = problems(kb_dir)
    assert any("dandruff.md" in m for m in found) and any("nutrition.md" in m for m in found)


def test_version_changes_with_the_answer(kb):
    from dataclasses import replace

    e = kb.get("side_effects")
    assert replace(e, answer=e.answer + " More.").version != e.version
    assert replace(e, questions=e.questions[:-1]).version == e.version  # questions are not shown


def test_check_command_exits_nonzero_with_the_message(kb_dir, monkeypatch, capsys):
    import bot.knowledge.__main__ as cli
    from bot.knowledge import loader

    (kb_dir / "dandruff.md").write_text(entry("dandruff", answer="short"))
    monkeypatch.setattr(cli, "load_knowledge_base", lambda: loader.load_knowledge_base(entries_dir=kb_dir))
    assert cli.main(["check"]) == 2
    assert "dandruff.md: field 'answer' has 1 words" in capsys.readouterr().err
