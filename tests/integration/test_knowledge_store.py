"""The knowledge base in the database (bot/knowledge/store.py, live.py) on SQLite and
PostgreSQL: seeded once from knowledge/, every save a version, no signing one's own edit,
production never serves an entry nobody signed, and a published edit is served from the next
read without a restart."""
import subprocess
import sys
import threading

import pytest
from sqlalchemy import func, select

from bot.config import paths
from bot.knowledge import store
from bot.knowledge.live import LiveKnowledge
from bot.knowledge.serving import ServingConfig
from bot.serve.processes import project_env
from bot.storage.db import transaction
from bot.storage.models import AuditEntry, KnowledgeEntryRecord, KnowledgeVersion

NEW_ANSWER = ("Dandruff can be managed with an anti-dandruff shampoo that contains ketoconazole, zinc "
              "pyrithione or salicylic acid. Use it as the label says, rinse well, and keep your scalp "
              "clean and moisturised. If flaking or itching continues, please ask the clinic's staff, "
              "who can look at your scalp and suggest what suits you.")


def fields_of(version, **changes):
    base = {"title": version.title, "questions": list(version.questions), "answer": version.answer,
            "source": list(version.source), "authored_by": version.authored_by}
    return {**base, **changes}


def audit(url, entry_id):
    with transaction(url) as s:
        return [(a.actor, a.action, a.detail) for a in s.scalars(
            select(AuditEntry).where(AuditEntry.target == f"knowledge:{entry_id}").order_by(AuditEntry.id))]


def live(url, production=False):
    return LiveKnowledge(url, ServingConfig.load(), production)


def test_seeded_once_from_the_files_even_when_processes_start_together(db_url, kb):
    results = []
    threads = [threading.Thread(target=lambda: results.append(store.ensure_seeded(db_url))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
    assert store.ensure_seeded(db_url) is False
    with transaction(db_url) as s:
        assert s.scalar(select(func.count()).select_from(KnowledgeEntryRecord)) == len(kb)
        # Version 1 of each entry, and issue 15's four proposals on top (saved once).
        assert s.scalar(select(func.count()).select_from(KnowledgeVersion)) == len(kb) + 4
    entry = store.get_entry(db_url, "safety")
    assert entry.state == store.AWAITING and entry.published is None
    assert entry.version(1).answer == kb.get("safety").answer
    # Unsigned, the seeded text hashes as the file does: served-answer logs stay comparable.
    assert entry.version(1).as_entry().version == kb.get("safety").version


def test_every_save_is_a_new_attributed_version_and_old_ones_stay(db_url):
    store.ensure_seeded(db_url)
    v1 = store.get_entry(db_url, "dandruff").latest
    v2 = store.save(db_url, "dandruff", "nurse_ana", fields_of(v1, answer=NEW_ANSWER), base=1,
                    note="plainer wording")
    entry = store.get_entry(db_url, "dandruff")
    assert [v.number for v in entry.versions] == [1, 2]
    assert entry.version(1).answer == v1.answer and entry.version(2).answer == NEW_ANSWER
    assert (v2.author, v2.note, v2.state) == ("nurse_ana", "plainer wording", store.AWAITING)
    changes = dict(store.diff(entry.version(1), entry.version(2)))
    assert set(changes) == {"answer"}
    assert any(mark == "+" and "look at your scalp" in line for mark, line in changes["answer"])
    assert ("nurse_ana", "knowledge_edit", "version 2 (awaiting sign-off)") in audit(db_url, "dandruff")


def test_a_stale_editor_is_refused_and_nothing_is_overwritten(db_url):
    store.ensure_seeded(db_url)
    v1 = store.get_entry(db_url, "dandruff").latest
    store.save(db_url, "dandruff", "nurse_ana", fields_of(v1, answer=NEW_ANSWER), base=1)
    with pytest.raises(store.Conflict, match="nurse_ana saved version 2"):
        store.save(db_url, "dandruff", "nurse_ben", fields_of(v1, answer=NEW_ANSWER + " Thanks."), base=1)
    assert store.get_entry(db_url, "dandruff").latest.answer == NEW_ANSWER


def test_content_breaking_a_rule_is_refused_per_field(db_url, kb):
    store.ensure_seeded(db_url)
    v1 = store.get_entry(db_url, "dandruff").latest
    taken = kb.get("nutrition").questions[0]
    bad = fields_of(v1, answer="Too short.", source=["Dandruff is cured in a week."],
                    questions=[*v1.questions, taken])
    with pytest.raises(store.ContentRefused) as refused:
        store.save(db_url, "dandruff", "nurse_ana", bad, base=1)
    fields = {p.field for p in refused.value.problems}
    assert fields == {"answer", "source"}
    # The question owned by another entry is reported once the entry's own fields pass.
    with pytest.raises(store.ContentRefused) as refused:
        store.save(db_url, "dandruff", "nurse_ana", fields_of(v1, questions=[*v1.questions, taken]), base=1)
    assert [p.field for p in refused.value.problems] == ["questions"]
    assert "also a question of entry 'nutrition'" in refused.value.problems[0].message
    assert len(store.get_entry(db_url, "dandruff").versions) == 1


def test_nobody_signs_their_own_edit_and_only_a_clinician_signs(db_url):
    store.ensure_seeded(db_url)
    v1 = store.get_entry(db_url, "dandruff").latest
    v2 = store.save(db_url, "dandruff", "dr_cruz", fields_of(v1, answer=NEW_ANSWER), base=1)
    with pytest.raises(store.KnowledgeStoreError, match="nobody signs their own edit"):
        store.sign(db_url, v2.id, "dr_cruz", "clinician")
    with pytest.raises(store.KnowledgeStoreError, match="only a clinician"):
        store.sign(db_url, v2.id, "admin1", "admin")
    signed = store.sign(db_url, v2.id, "dr_lee", "clinician")
    assert (signed.signer, signed.state) == ("dr_lee", store.PUBLISHED)
    with pytest.raises(store.KnowledgeStoreError, match="already signed"):
        store.sign(db_url, v2.id, "dr_ng", "clinician")
    # Version 1 is older than the published version 2: signing it cannot take it back.
    with pytest.raises(store.KnowledgeStoreError, match="older"):
        store.sign(db_url, v1.id, "dr_lee", "clinician")
    actions = [a[1] for a in audit(db_url, "dandruff")]
    assert actions == ["knowledge_edit", "knowledge_signed", "knowledge_published"]


def test_a_colleagues_edit_on_top_does_not_let_you_publish_your_own_text(db_url):
    store.ensure_seeded(db_url)
    v1 = store.get_entry(db_url, "dandruff").latest
    store.sign(db_url, v1.id, "dr_lee", "clinician")
    v2 = store.save(db_url, "dandruff", "dr_cruz", fields_of(v1, answer=NEW_ANSWER), base=1)
    v3 = store.save(db_url, "dandruff", "nurse_ana", fields_of(v2, answer=NEW_ANSWER + " Thanks."), base=2)
    # Signing version 3 publishes dr_cruz's version 2 as well.
    with pytest.raises(store.KnowledgeStoreError, match="you wrote version 2"):
        store.sign(db_url, v3.id, "dr_cruz", "clinician")
    assert store.sign(db_url, v3.id, "dr_lee", "clinician").signer == "dr_lee"


def test_a_draft_is_sent_for_sign_off_before_it_can_be_signed(db_url):
    store.ensure_seeded(db_url)
    v1 = store.get_entry(db_url, "dandruff").latest
    draft = store.save(db_url, "dandruff", "nurse_ana", fields_of(v1, answer=NEW_ANSWER), base=1, submit=False)
    assert store.get_entry(db_url, "dandruff").state == store.DRAFT
    with pytest.raises(store.KnowledgeStoreError, match="draft"):
        store.sign(db_url, draft.id, "dr_lee", "clinician")
    store.submit(db_url, draft.id, "nurse_ana")
    assert store.sign(db_url, draft.id, "dr_lee", "clinician").state == store.PUBLISHED


def test_published_edit_is_served_from_the_next_read_without_a_restart(db_url):
    store.ensure_seeded(db_url)
    serving = live(db_url)
    before = serving.current()
    old = before.kb.get("dandruff").answer
    v1 = store.get_entry(db_url, "dandruff").latest
    store.sign(db_url, v1.id, "dr_lee", "clinician")  # version 1 published
    v2 = store.save(db_url, "dandruff", "nurse_ana", fields_of(v1, answer=NEW_ANSWER), base=1)
    # Saved, not signed: the published version 1 is still what patients get.
    snap = serving.current()
    assert snap.kb.get("dandruff").answer == old and snap.version_of(snap.kb.get("dandruff")).number == 1
    store.sign(db_url, v2.id, "dr_lee", "clinician")
    snap = serving.current()
    assert snap.revision > before.revision
    assert snap.kb.get("dandruff").answer == NEW_ANSWER
    served = snap.version_of(snap.kb.get("dandruff"))
    assert (served.version_id, served.number, served.published) == (v2.id, 2, True)
    assert snap.kb.get("dandruff").reviewed_by == "dr_lee"
    # Unchanged knowledge base: the same snapshot, not rebuilt.
    assert serving.current() is snap


def test_production_never_serves_an_entry_nobody_signed(db_url):
    store.ensure_seeded(db_url)
    dev, prod = live(db_url).current(), live(db_url, production=True).current()
    assert dev.servable(dev.kb.get("dandruff")) and "dandruff" in dev.unsigned
    assert not prod.servable(prod.kb.get("dandruff")) and not prod.unsigned
    # ... but it still knows the entry, so the classifier's choice is read as trained.
    assert prod.kb.for_intent("kb_dandruff") is not None
    v1 = store.get_entry(db_url, "dandruff").latest
    store.sign(db_url, v1.id, "dr_lee", "clinician")
    prod = live(db_url, production=True).current()
    assert prod.servable(prod.kb.get("dandruff"))


def test_a_retired_entry_is_not_served_and_comes_back_only_by_a_clinician(db_url):
    store.ensure_seeded(db_url)
    serving = live(db_url)
    store.retire(db_url, "dandruff", "nurse_ana", "replaced by a leaflet")
    snap = serving.current()
    assert snap.kb.get("dandruff") is None and snap.kb.for_intent("kb_dandruff") is None
    assert store.get_entry(db_url, "dandruff").state == store.RETIRED
    with pytest.raises(store.KnowledgeStoreError, match="retired"):
        v1 = store.get_entry(db_url, "dandruff").latest
        store.save(db_url, "dandruff", "nurse_ana", fields_of(v1, answer=NEW_ANSWER), base=1)
    with pytest.raises(store.KnowledgeStoreError, match="only a clinician"):
        store.restore(db_url, "dandruff", "nurse_ana", "staff")
    store.restore(db_url, "dandruff", "dr_lee", "clinician")
    assert serving.current().kb.get("dandruff") is not None
    assert [a[1] for a in audit(db_url, "dandruff")] == ["knowledge_retired", "knowledge_restored"]


def test_a_new_entry_and_curated_questions_go_through_sign_off(db_url, kb):
    store.ensure_seeded(db_url)
    source = kb.get("dandruff").source
    fields = {"id": "dandruff.itchy_scalp", "title": "Itchy scalp and flakes",
              "questions": [f"why is my scalp so itchy {i}?" for i in range(8)], "answer": NEW_ANSWER,
              "source": list(source)}
    v1 = store.create(db_url, "nurse_ana", fields)
    assert (v1.entry_id, v1.number, v1.state) == ("dandruff.itchy_scalp", 1, store.AWAITING)
    with pytest.raises(store.ContentRefused) as refused:
        store.create(db_url, "nurse_ana", fields)
    assert [p.field for p in refused.value.problems] == ["id"]
    v2 = store.add_questions(db_url, "dandruff.itchy_scalp", "nurse_ben",
                             ["my head itches all the time", "why is my scalp so itchy 3?"])
    assert v2.number == 2 and v2.questions[-1] == "my head itches all the time"
    assert len(v2.questions) == 9 and v2.state == store.AWAITING and v2.author == "nurse_ben"


def test_the_proposals_await_sign_off_marked_clinic_authored_once(db_url, kb, tmp_path):
    # An install seeded before proposals were applied at seeding: the propose command's case.
    store.ensure_seeded(db_url, proposals_dir=tmp_path / "no-proposals")
    proposals = paths.PROPOSALS_DIR / "issue-15.yml"
    first = store.apply_proposals(db_url, proposals)
    assert first == [("safety", 2), ("how_it_works", 2), ("side_effects", 2), ("when_to_report", 2)]
    assert store.apply_proposals(db_url, proposals) == [(entry_id, None) for entry_id, _ in first]
    for entry_id, _ in first:
        v = store.get_entry(db_url, entry_id).latest
        assert v.state == store.AWAITING and v.clinic_authored and v.author == "proposed (issue 15)" and v.note
        assert v.questions == kb.get(entry_id).questions and v.source == kb.get(entry_id).source
    assert "growth factors" in store.get_entry(db_url, "how_it_works").latest.answer
    assert "growth hormones" not in store.get_entry(db_url, "how_it_works").latest.answer
    assert "severe or getting worse" in store.get_entry(db_url, "side_effects").latest.answer
    assert "is described as a safe" in store.get_entry(db_url, "safety").latest.answer


def test_export_and_check_the_published_set_from_the_command_line(db_url, tmp_path):
    store.ensure_seeded(db_url)
    v1 = store.get_entry(db_url, "dandruff").latest
    store.sign(db_url, v1.id, "dr_lee", "clinician")
    env = project_env(DATABASE_URL=db_url)
    out = subprocess.run([sys.executable, "-m", "bot.knowledge", "export", str(tmp_path / "export")], env=env,
                         cwd=paths.ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "exported 1 published entries" in out.stdout
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["dandruff.md"]
    assert "reviewed_by: dr_lee" in (tmp_path / "export" / "dandruff.md").read_text()
    check = subprocess.run([sys.executable, "-m", "bot.knowledge", "check", str(tmp_path / "export")], env=env,
                           cwd=paths.ROOT, capture_output=True, text=True)
    assert check.returncode == 0 and "export OK: 1 entries" in check.stdout and "have no published entry" in check.stdout
    broken = tmp_path / "export" / "dandruff.md"
    broken.write_text(broken.read_text().replace("reviewed_by: dr_lee", "reviewed_by: pending"))
    check = subprocess.run([sys.executable, "-m", "bot.knowledge", "check", str(tmp_path / "export")], env=env,
                           cwd=paths.ROOT, capture_output=True, text=True)
    assert check.returncode == 2 and "dandruff.md: field 'reviewed_by'" in check.stderr
