"""Issue 15 on a new install: seeding a new database also saves knowledge/proposals/*.yml as
the entries' next versions, awaiting sign-off (bot/knowledge/store.py ensure_seeded). Once
only, by the process that seeded; a broken proposals file is logged and audited and does not
stop seeding. Real SQLite files."""
import logging
import shutil

import pytest
from sqlalchemy import func, select

from bot.config import paths
from bot.knowledge import proposals, store
from bot.storage.db import dispose_all, transaction, upgrade
from bot.storage.models import AuditEntry, KnowledgeVersion

ISSUE_15 = paths.PROPOSALS_DIR / "issue-15.yml"
PROPOSED = ["safety", "how_it_works", "side_effects", "when_to_report"]


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    upgrade(url)
    yield url
    dispose_all(url)


def counts(url):
    """What a second seeding must leave as it is."""
    with transaction(url) as s:
        return (s.scalar(select(func.count()).select_from(KnowledgeVersion)),
                s.scalar(select(func.count()).select_from(AuditEntry)),
                store.revision(url))


def audit_rows(url, action):
    with transaction(url) as s:
        return [(a.actor, a.target, a.detail) for a in
                s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))]


def test_the_four_proposals_are_listed_in_the_issue_15_file():
    author, items = proposals.load(ISSUE_15)
    assert [item["id"] for item in items] == PROPOSED and author == "proposed (issue 15)"


def test_a_new_database_has_the_proposals_awaiting_sign_off_on_top_of_the_seeded_versions(url, kb):
    assert store.ensure_seeded(url) is True
    author, items = proposals.load(ISSUE_15)
    for item in items:
        entry = store.get_entry(url, item["id"])
        seeded, proposed = entry.versions
        assert (seeded.number, seeded.author, seeded.answer) == (1, store.SEED_AUTHOR, kb.get(entry.id).answer)
        assert (proposed.number, proposed.author, proposed.note) == (2, author, " ".join(item["note"].split()))
        assert proposed.answer == " ".join(item["answer"].split()) and proposed.clinic_authored
        # Awaiting sign-off: sent, not signed, so not published and never served in production.
        assert entry.latest is proposed and proposed.state == store.AWAITING and proposed.signer is None
        assert entry.published is None and entry.served(production=True) is None
        assert ("proposed (issue 15)", f"knowledge:{entry.id}", "version 2 (awaiting sign-off)") in \
            audit_rows(url, "knowledge_edit")
    # Entries without a proposal keep their seeded version alone.
    others = [e for e in store.all_entries(url) if e.id not in PROPOSED]
    assert others and all(len(e.versions) == 1 for e in others)
    assert audit_rows(url, store.PROPOSAL_REFUSED) == []


def test_seeding_again_changes_nothing_and_so_does_proposing_the_file_again(url):
    store.ensure_seeded(url)
    before = counts(url)
    assert store.ensure_seeded(url) is False
    assert store.apply_proposals(url, ISSUE_15) == [(entry_id, None) for entry_id in PROPOSED]
    assert counts(url) == before


BROKEN = {
    # Not YAML at all.
    "a-unreadable.yml": "author: [unclosed\nentries: {",
    # Checks the loader's rules: an answer of three words.
    "b-too-short.yml": "author: proposed (test)\nentries:\n  - id: dandruff\n    answer: Wash your hair.\n",
    # An entry this install does not have.
    "c-unknown-entry.yml": "author: proposed (test)\nentries:\n  - id: no_such_entry\n    answer: Hello.\n",
}


def test_a_broken_proposals_file_is_reported_and_seeding_goes_on(url, kb, tmp_path, caplog):
    directory = tmp_path / "proposals"
    directory.mkdir()
    for name, text in BROKEN.items():
        (directory / name).write_text(text)
    shutil.copy(ISSUE_15, directory / "d-issue-15.yml")  # after the broken ones, by name
    (directory / "README.md").write_text("not a proposals file")

    with caplog.at_level(logging.WARNING, logger="bot.knowledge.store"):
        assert store.ensure_seeded(url, proposals_dir=directory) is True

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(BROKEN)
    for name, warning in zip(BROKEN, warnings):
        assert warning.startswith(f"knowledge proposals {name} not applied at seeding: ")
    assert "cannot read the proposals" in warnings[0]
    assert "entry 'dandruff': field 'answer' has 3 words" in warnings[1]
    assert "there is no entry 'no_such_entry'" in warnings[2]
    refused = audit_rows(url, store.PROPOSAL_REFUSED)
    assert [(actor, target) for actor, target, _ in refused] == [("system", "knowledge")] * len(BROKEN)
    assert [detail.split(":")[0] for _, _, detail in refused] == list(BROKEN)

    # Every entry is seeded, the broken files changed nothing, the good file after them applied.
    assert len(store.all_entries(url)) == len(kb)
    assert len(store.get_entry(url, "dandruff").versions) == 1
    assert all(store.get_entry(url, entry_id).latest.number == 2 for entry_id in PROPOSED)


def test_the_proposals_are_applied_in_the_order_of_their_file_names(url, tmp_path):
    """Two files proposing for the same entry: the later name is the latest version."""
    directory = tmp_path / "proposals"
    directory.mkdir()
    text = ISSUE_15.read_text()
    (directory / "b-second.yml").write_text(text.replace("author: proposed (issue 15)", "author: second"))
    (directory / "a-first.yml").write_text(text.replace("author: proposed (issue 15)", "author: first"))
    store.ensure_seeded(url, proposals_dir=directory)
    # The second file's wording is the same text, by another author: a version of its own.
    assert [v.author for v in store.get_entry(url, "safety").versions] == [store.SEED_AUTHOR, "first", "second"]


def test_without_a_proposals_directory_only_the_entries_are_seeded(url, kb, tmp_path):
    assert store.ensure_seeded(url, proposals_dir=tmp_path / "none") is True
    assert counts(url)[0] == len(kb)
