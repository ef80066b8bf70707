"""The knowledge workflow in headless Chromium against the assistant `make run` starts: a
clinician publishes an entry, a nurse's rule-breaking edit is refused with the field named, her
good edit waits for sign-off (patients still get the published text), a clinician signs it,
and the web chat serves the new text on the next message - no process restarted. The audit
log shows the edit, the signature and the publication."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import paths
from bot.serve.processes import project_env
from bot.storage.db import transaction
from bot.storage.models import KnowledgeVersion, ServedAnswer

pytestmark = pytest.mark.slow
PASSWORD = "a-long-console-password"
ENTRY = "scalp_massage"  # no other test of the live assistant reads this entry's text
ADDED = " Ask the clinic's staff to show you a gentle technique at your next visit."


def add_user(live, name, role):
    subprocess.run([sys.executable, "-m", "bot.console.staff", "add-user", name, "--role", role, "--password-stdin"],
                   input=PASSWORD + "\n", text=True, check=True, cwd=paths.ROOT,
                   env=project_env(DATABASE_URL=live.database_url), capture_output=True)


def signed_in(chromium, live, name):
    page = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(live.console_url + "/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live.console_url + "/")
    return page


def children(pid):
    """The launcher's child processes (Rasa, actions, worker, console)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def ask(chat, question, expected):
    """Send a question and wait for a new reply containing `expected`."""
    seen = chat.evaluate(COUNT, expected)
    box = chat.get_by_label("Your message")
    box.fill(question)
    box.press("Enter")
    chat.wait_for_function(f"([needle, seen]) => ({COUNT})(needle) > seen", arg=[expected, seen], timeout=30000)


COUNT = "(needle) => Array.from(document.querySelectorAll('.cw-bot')).filter(li => li.textContent.includes(needle)).length"


def served_versions(live, entry_id):
    with transaction(live.database_url) as s:
        return [number for (number,) in s.execute(
            select(KnowledgeVersion.number).join(ServedAnswer, ServedAnswer.knowledge_version_id == KnowledgeVersion.id)
            .where(ServedAnswer.entry_id == entry_id).order_by(ServedAnswer.id))]


def test_edit_sign_and_serve_without_a_restart(live, chromium, kb, tmp_path):
    shots = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    for name, role in (("kb_nurse", "staff"), ("kb_doctor", "clinician"), ("kb_admin", "admin")):
        add_user(live, name, role)
    entry = kb.get(ENTRY)
    question, old_answer, new_answer = entry.questions[0], entry.answer, entry.answer + ADDED

    # A clinician publishes version 1 as it stands.
    doctor = signed_in(chromium, live, "kb_doctor")
    doctor.goto(f"{live.console_url}/knowledge/{ENTRY}")
    doctor.get_by_label("I have read version 1").check()
    doctor.get_by_role("button", name="Sign and publish v1").click()
    assert "Patients are served version 1, signed by kb_doctor" in doctor.locator("#served").inner_text()

    chat = chromium.new_page()
    chat.goto(live.chat_page)
    ask(chat, question, old_answer[:80])
    processes = children(live.proc.pid)
    assert len(processes) >= 4

    # The nurse: an answer far too short is refused, the field named, and her text kept.
    nurse = signed_in(chromium, live, "kb_nurse")
    nurse.goto(f"{live.console_url}/knowledge/{ENTRY}")
    answer_box = nurse.get_by_label("Answer (40-120 words)")
    answer_box.fill("Massage helps.")
    # The live preview shows the patient's text as she types.
    nurse.wait_for_function("() => document.getElementById('preview-answer').textContent === 'Massage helps.'")
    nurse.get_by_role("button", name="Save and send for sign-off").click()
    assert "Not saved: fix the fields marked below." in nurse.get_by_role("alert").inner_text()
    assert "field 'answer' has 2 words; it must have 40-120" in nurse.locator("#answer-problems").inner_text()
    assert nurse.get_by_label("Answer (40-120 words)").input_value() == "Massage helps."
    assert nurse.locator("table.versions tbody tr").count() == 1

    # Her real edit is saved as version 2, awaiting sign-off; patients still get version 1.
    nurse.get_by_label("Answer (40-120 words)").fill(new_answer)
    nurse.get_by_label("What changed and why").fill("offer to show the technique")
    nurse.get_by_role("button", name="Save and send for sign-off").click()
    assert "Saved as version 2" in nurse.locator(".notice").inner_text()
    assert nurse.get_by_role("button", name="Sign and publish v2").count() == 0  # staff do not sign
    ask(chat, question, old_answer[:80])
    assert not any(ADDED.strip() in t for t in chat.locator(".cw-bot").all_inner_texts())

    # The clinician sees what changed and signs: the next message gets the new text.
    doctor.goto(f"{live.console_url}/knowledge/{ENTRY}")
    assert ADDED.strip().split(" at ")[0] in doctor.locator("ul.diff li.added").first.inner_text()
    doctor.screenshot(path=str(shots / "knowledge-sign-off.png"), full_page=True)
    doctor.get_by_label("I have read version 2").check()
    doctor.get_by_role("button", name="Sign and publish v2").click()
    assert "Patients are served version 2, signed by kb_doctor" in doctor.locator("#served").inner_text()
    ask(chat, question, ADDED.strip())
    assert served_versions(live, ENTRY)[-3:] == [1, 1, 2]
    assert children(live.proc.pid) == processes  # nothing was restarted

    admin = signed_in(chromium, live, "kb_admin")
    admin.goto(f"{live.console_url}/audit")
    rows = [r for r in admin.locator("table tbody tr").all_inner_texts() if f"knowledge:{ENTRY}" in r]
    steps = [(r.split("\t")[1], r.split("\t")[2]) for r in reversed(rows)]
    assert steps == [("kb_doctor", "knowledge_signed"), ("kb_doctor", "knowledge_published"),
                     ("kb_nurse", "knowledge_edit"), ("kb_doctor", "knowledge_signed"),
                     ("kb_doctor", "knowledge_published")]
    for page in (doctor, nurse, admin, chat):
        page.close()
