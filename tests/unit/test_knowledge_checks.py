"""The entry rules in memory (bot/knowledge/checks.py), shared by the file loader and the
console: each problem names its field; clinic-authored text may quote no source but must say
it is the clinic's; the export writes files the strict loader reads back unchanged."""
from dataclasses import replace

import pytest

from bot.config import paths
from bot.knowledge import checks
from bot.knowledge.export import render
from bot.knowledge.loader import KnowledgeError, load_article, load_knowledge_base, load_topics

ANSWER = " ".join(["word"] * 50)


def content(**changes):
    fields = {"id": "dandruff", "title": "Dandruff", "questions": [f"question {i}?" for i in range(8)],
              "answer": ANSWER, "source": ["Results are often visible two months after treatment."]}
    return checks.check_content({**fields, **changes}, load_topics(), load_article())


def fields_of(problems):
    return [p.field for p in problems]


def test_a_good_entry_passes_and_comes_back_cleaned():
    found, problems = content(title="  Dandruff  ", answer="\r\n" + ANSWER + "  \r\n")
    assert problems == [] and found.title == "Dandruff" and found.answer == ANSWER
    assert found.authored_by == checks.ARTICLE


@pytest.mark.parametrize("changes, field, words", [
    ({"id": "Price List"}, "id", "must be a topic id"),
    ({"id": "price_list"}, "id", "unknown topic 'price_list'"),
    ({"title": "x" * 61}, "title", "at most 60"),
    ({"questions": ["same?", "Same"]}, "questions", "repeats"),
    ({"answer": "Too short."}, "answer", "has 2 words"),
    ({"source": ["Exosomes cure baldness."]}, "source", "word for word"),
    ({"source": []}, "source", "missing or empty"),
    ({"authored_by": "nurse"}, "authored_by", "must be one of article, clinic"),
])
def test_each_problem_names_its_field(changes, field, words):
    found, problems = content(**changes)
    assert found is None and field in fields_of(problems)
    assert any(words in p.message and f"field '{field}'" in p.message for p in problems)


def test_clinic_authored_text_may_quote_nothing_but_what_it_quotes_must_be_exact():
    found, problems = content(authored_by="clinic", source=[])
    assert problems == [] and found.authored_by == checks.CLINIC and found.source == ()
    _, problems = content(authored_by="clinic", source=["Not in the article at all."])
    assert fields_of(problems) == ["source"]


def test_a_question_belongs_to_one_entry():
    owners = {checks.question_key("Is it safe?"): "safety"}
    problems = checks.check_unique_questions("dandruff", ["is it SAFE", "other?"], owners)
    assert fields_of(problems) == ["questions"] and "also a question of entry 'safety'" in problems[0].message
    assert checks.check_unique_questions("safety", ["is it safe"], owners) == []


def test_the_loader_reads_a_clinic_authored_file_and_the_export_round_trips(tmp_path, kb):
    entries = tmp_path / "entries"
    entries.mkdir()
    for e in kb:
        (entries / f"{e.id}.md").write_text(render(e))
    safety = (entries / "safety.md").read_text().replace("reviewed_by: pending", "authored_by: clinic\nreviewed_by: pending")
    (entries / "safety.md").write_text(safety)
    loaded = load_knowledge_base(entries_dir=entries)
    assert loaded.get("safety").authored_by == checks.CLINIC
    assert loaded.get("safety").version != kb.get("safety").version  # the mark is part of what was signed
    assert render(loaded.get("safety")) == safety
    for e in kb:
        if e.id != "safety":
            assert loaded.get(e.id) == replace(kb.get(e.id), path=loaded.get(e.id).path)
    # Unchanged entries export as the hand-written files are (only white space in quotes may differ).
    same = [e.id for e in kb if render(e) == (paths.ENTRIES_DIR / f"{e.id}.md").read_text()]
    assert len(same) >= len(kb) - 1


def test_an_export_may_leave_topics_out_but_the_repository_may_not(tmp_path, kb):
    entries = tmp_path / "entries"
    entries.mkdir()
    (entries / "dandruff.md").write_text(render(kb.get("dandruff")))
    assert len(load_knowledge_base(entries_dir=entries, every_topic=False)) == 1
    with pytest.raises(KnowledgeError, match="has no entry"):
        load_knowledge_base(entries_dir=entries)
