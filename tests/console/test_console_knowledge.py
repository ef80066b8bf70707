"""The console's knowledge area over real HTTP and a real database: the editor refuses what
the loader would, per field, keeping the text; a clinician other than the author signs; the
audit log has every step; drafts, diffs, new entries, retiring, curation and the export."""
import io
import re
import zipfile

import pytest

from bot.console.accounts import create_user
from bot.knowledge import store
from bot.knowledge.loader import load_knowledge_base
from tests.console.conftest import PASSWORD, STAFF, csrf_from, sign_in

DR_LEE, DR_CRUZ = "dr_lee", "dr_cruz"
NEW_ANSWER = ("To keep your scalp clean, wash it with a gentle, sulfate-free shampoo that will not strip "
              "its natural oils. Now and then, exfoliate it with a mild scalp scraper or brush to remove "
              "dead skin and build-up. Please ask the clinic's staff if you are unsure which products suit "
              "your scalp after treatment.")


@pytest.fixture(scope="module", autouse=True)
def clinicians(console):
    create_user(console.url, DR_LEE, PASSWORD, "clinician")
    create_user(console.url, DR_CRUZ, PASSWORD, "clinician")


def editor_form(page_html: str, entry, **changes):
    v = entry.latest
    data = {"csrf": csrf_from(page_html), "base": str(v.number), "title": v.title,
            "questions": "\n".join(v.questions), "answer": v.answer, "source": "\n".join(v.source),
            "action": "save"}
    if v.clinic_authored:
        data["clinic_authored"] = "yes"
    return {**data, **changes}


def problems_under(html: str, field: str) -> str:
    found = re.search(rf'id="{field}-problems"[^>]*>(.*?)</div>', html, re.S)
    return found.group(1) if found else ""


def test_the_list_shows_each_entry_state_and_the_development_banner(console, kb):
    page = sign_in(console, STAFF).get("/knowledge")
    assert page.status_code == 200
    assert page.text.count('<tr data-entry="') == len(kb)
    assert "awaiting sign-off" in page.text and "never signed" in page.text
    assert "Development mode" in page.text and "served to patients although no clinician has signed" in page.text


def test_an_edit_breaking_a_rule_is_refused_next_to_its_field_and_nothing_is_lost(console):
    c = sign_in(console, STAFF)
    html = c.get("/knowledge/scalp_massage").text
    entry = store.get_entry(console.url, "scalp_massage")
    typed = "Massage your scalp gently every day."
    resp = c.post("/knowledge/scalp_massage", data=editor_form(html, entry, answer=typed,
                                                                source="Massage cures baldness."))
    assert resp.status_code == 422
    assert "field &#39;answer&#39; has 6 words; it must have 40-120" in problems_under(resp.text, "answer")
    assert "is not quoted word for word" in problems_under(resp.text, "source")
    assert problems_under(resp.text, "title").strip() == ""
    assert typed in resp.text and "Massage cures baldness." in resp.text  # the staff member's text is kept
    assert len(store.get_entry(console.url, "scalp_massage").versions) == 1


def test_staff_edit_clinician_signs_and_the_audit_log_has_each_step(console):
    nurse = sign_in(console, STAFF)
    entry = store.get_entry(console.url, "scalp_cleanliness")
    resp = nurse.post("/knowledge/scalp_cleanliness",
                      data=editor_form(nurse.get("/knowledge/scalp_cleanliness").text, entry, answer=NEW_ANSWER,
                                       note="plainer words"))
    assert resp.status_code == 303 and resp.headers["location"] == "/knowledge/scalp_cleanliness?saved=2"
    page = nurse.get("/knowledge/scalp_cleanliness").text
    assert "Sign and publish" not in page  # staff cannot sign
    v2 = store.get_entry(console.url, "scalp_cleanliness").latest
    refused = nurse.post("/knowledge/scalp_cleanliness", data={"csrf": csrf_from(page), "action": "sign",
                                                               "version_id": v2.id, "confirm": "yes"})
    assert refused.status_code == 422 and "only a clinician" in refused.text

    doctor = sign_in(console, DR_LEE)
    page = doctor.get("/knowledge/scalp_cleanliness").text
    assert "Sign and publish v2" in page and "plainer words" in page
    assert "Changes awaiting sign-off" not in page  # nothing published yet to compare with
    resp = doctor.post("/knowledge/scalp_cleanliness", data={"csrf": csrf_from(page), "action": "sign",
                                                             "version_id": v2.id, "confirm": "yes"})
    assert resp.status_code == 303
    page = doctor.get("/knowledge/scalp_cleanliness").text
    assert f"Patients are served version 2, signed by {DR_LEE}" in page

    audit = sign_in(console).get("/audit").text
    rows = re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td><td>knowledge:scalp_cleanliness</td>", audit)
    assert rows[::-1] == [(STAFF, "knowledge_edit"), (DR_LEE, "knowledge_signed"), (DR_LEE, "knowledge_published")]


def test_a_clinician_cannot_sign_their_own_edit(console):
    doctor = sign_in(console, DR_CRUZ)
    entry = store.get_entry(console.url, "oily_scalp")
    answer = entry.latest.answer + " Please ask us if you are unsure."
    assert doctor.post("/knowledge/oily_scalp", data=editor_form(doctor.get("/knowledge/oily_scalp").text, entry,
                                                                  answer=answer)).status_code == 303
    page = doctor.get("/knowledge/oily_scalp").text
    assert "You wrote this version: another clinician signs it." in page
    v2 = store.get_entry(console.url, "oily_scalp").latest
    resp = doctor.post("/knowledge/oily_scalp", data={"csrf": csrf_from(page), "action": "sign",
                                                      "version_id": v2.id, "confirm": "yes"})
    assert resp.status_code == 422 and "nobody signs their own edit" in resp.text
    assert store.get_entry(console.url, "oily_scalp").published is None


def test_the_live_preview_shows_the_patient_text_and_the_problems(console):
    c = sign_in(console, STAFF)
    html = c.get("/knowledge/nutrition").text
    entry = store.get_entry(console.url, "nutrition")
    data = editor_form(html, entry, answer="  Eat eggs.\r\nAnd fish.  ", entry_id="nutrition")
    result = c.post("/knowledge/preview", data=data).json()
    assert result["answer"] == "Eat eggs.\nAnd fish." and result["words"] == 4
    assert list(result["problems"]) == ["answer"]
    good = c.post("/knowledge/preview", data={**data, "answer": entry.latest.answer}).json()
    assert good["problems"] == {} and good["title"] == entry.latest.title
    assert c.post("/knowledge/preview", data={**data, "csrf": "forged"}).status_code == 403


def test_two_versions_can_be_compared(console):
    c = sign_in(console, STAFF)
    entry = store.get_entry(console.url, "hair_care_routine")
    changed = entry.latest.answer.replace("trimming", "regular trims", 1)
    assert changed != entry.latest.answer
    c.post("/knowledge/hair_care_routine", data=editor_form(c.get("/knowledge/hair_care_routine").text, entry,
                                                            answer=changed))
    page = c.get("/knowledge/hair_care_routine/diff?from=1&to=2").text
    assert '<li class="added">' in page and "regular trims" in page and '<li class="removed">' in page
    assert c.get("/knowledge/hair_care_routine/diff?from=1&to=9").status_code == 404


def test_a_draft_new_entry_and_retiring(console, kb):
    c = sign_in(console, STAFF)
    html = c.get("/knowledge/new").text
    data = {"csrf": csrf_from(html), "id": "Price List!", "title": "Prices",
            "questions": "\n".join(f"how much is it {i}" for i in range(8)), "answer": NEW_ANSWER,
            "source": "\n".join(kb.get("scalp_cleanliness").source), "action": "save_draft"}
    resp = c.post("/knowledge/new", data=data)
    assert resp.status_code == 422 and "must be a topic id" in problems_under(resp.text, "id")
    resp = c.post("/knowledge/new", data={**data, "id": "scalp_cleanliness.products"})
    assert resp.status_code == 303
    entry = store.get_entry(console.url, "scalp_cleanliness.products")
    assert entry.state == store.DRAFT and entry.latest.author == STAFF
    page = c.get("/knowledge/scalp_cleanliness.products").text
    assert "Send v1 for sign-off" in page
    assert c.post("/knowledge/scalp_cleanliness.products",
                  data={"csrf": csrf_from(page), "action": "retire", "reason": "not needed"}).status_code == 303
    assert store.get_entry(console.url, "scalp_cleanliness.products").state == store.RETIRED


def test_curation_adds_a_groups_phrasings_to_an_entry_for_sign_off(console):
    from bot.storage.knowledge_log import KnowledgeLog

    log = KnowledgeLog(console.url)
    for text in ("can I dye my hair after the injections", "is hair colouring ok after treatment?"):
        log.record_unanswered("cur-kb", "webchat", text, "low_confidence", "kb_harsh_products_heat", 0.3)
    c = sign_in(console, STAFF)
    page = c.get("/curation").text
    ids = re.search(r'name="question_ids" value="([0-9,]+)"', page).group(1)
    before = store.get_entry(console.url, "harsh_products_heat").latest
    resp = c.post("/curation", data={"csrf": csrf_from(page), "question_ids": ids,
                                     "entry_id": "harsh_products_heat"})
    assert resp.status_code == 303 and resp.headers["location"].startswith("/knowledge/harsh_products_heat?saved=")
    after = store.get_entry(console.url, "harsh_products_heat").latest
    assert after.number == before.number + 1 and after.state == store.AWAITING and after.author == STAFF
    assert set(after.questions) - set(before.questions) <= {"can I dye my hair after the injections",
                                                            "is hair colouring ok after treatment?"}
    assert len(after.questions) > len(before.questions)
    # The same group again: nothing new, and the page says so; nothing is saved.
    again = c.post("/curation", data={"csrf": csrf_from(page), "question_ids": ids, "entry_id": "harsh_products_heat"})
    assert again.status_code == 422 and "already has every one" in again.text
    assert store.get_entry(console.url, "harsh_products_heat").latest.number == after.number


def test_the_export_is_the_published_set_in_the_file_format(console, tmp_path):
    entry = store.get_entry(console.url, "dandruff")
    store.sign(console.url, entry.latest.id, DR_CRUZ, "clinician")
    c = sign_in(console, STAFF)
    resp = c.get("/knowledge/export.zip")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(resp.content)) as z:
        z.extractall(tmp_path)
    exported = load_knowledge_base(entries_dir=tmp_path / "entries", every_topic=False)
    published = {e.id: e.published for e in store.all_entries(console.url) if e.published and not e.retired_at}
    assert {e.id for e in exported} == set(published) and "dandruff" in published
    assert exported.get("dandruff").reviewed_by == DR_CRUZ
    assert exported.get("dandruff").answer == published["dandruff"].answer
    assert exported.get("dandruff").version == published["dandruff"].as_entry().version


def test_the_knowledge_pages_need_sign_in_and_refuse_odd_input(console):
    from tests.console.conftest import client

    anonymous = client(console)
    for path in ("/knowledge", "/knowledge/safety", "/knowledge/new", "/knowledge/export.zip"):
        assert anonymous.get(path).status_code == 303
    assert anonymous.post("/knowledge/preview", data={"answer": "x"}).status_code == 401
    c = sign_in(console, STAFF)
    for path in ("/knowledge/no_such_entry", "/knowledge/safety%00", "/knowledge/safety%0A",
                 "/knowledge/" + "a" * 80, "/knowledge/safety/diff?from=x&to=1"):
        assert c.get(path).status_code == 404, path
    csrf = csrf_from(c.get("/knowledge/safety").text)
    assert c.post("/knowledge/safety", data={"csrf": csrf, "action": "delete"}).status_code == 400
    assert c.post("/knowledge/safety", data={"csrf": csrf, "action": "sign", "version_id": "999999",
                                             "confirm": "yes"}).status_code == 422
    assert c.post("/curation", data={"csrf": csrf, "question_ids": "1", "entry_id": "x\x00"}).status_code == 400


def test_the_list_says_which_model_serves_and_why_a_retrain_failed(console):
    from bot.storage.db import transaction
    from bot.storage.models import ModelBuild

    page = sign_in(console, STAFF).get("/knowledge")
    assert "Serving the model trained from the files" in page.text and 'data-model-state' not in page.text
    with transaction(console.url) as s:
        s.add(ModelBuild(inputs="f" * 64, code_inputs="c" * 64, state="failed", knowledge_revision=7,
                         error="training failed (exit code 1): InvalidConfigException: no such component"))
    try:
        page = sign_in(console, STAFF).get("/knowledge")
        assert 'data-model-state="failed"' in page.text
        assert "still serving" in page.text
        assert "InvalidConfigException: no such component" in page.text
    finally:
        with transaction(console.url) as s:
            s.query(ModelBuild).filter(ModelBuild.inputs == "f" * 64).delete()
