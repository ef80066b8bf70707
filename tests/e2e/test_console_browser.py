"""Staff in headless Chromium: sign in, see an escalation a real chat created, open it, reply
(the patient gets it on Telegram), take over (the assistant goes quiet), hand back, resolve,
and find every action in the audit log."""
import subprocess
import sys

import pytest

from bot.config import paths
from bot.serve.processes import project_env
from tests.e2e.telegram_helpers import message, post_update, texts_to

pytestmark = pytest.mark.slow
PASSWORD = "a-long-console-password"


def test_staff_handle_an_escalation_in_the_browser(live, chromium, tmp_path):
    subprocess.run([sys.executable, "-m", "bot.console.staff", "add-user", "nurse_ana", "--role", "admin",
                    "--password-stdin"], input=PASSWORD + "\n", text=True, check=True, cwd=paths.ROOT,
                   env=project_env(DATABASE_URL=live.database_url), capture_output=True)
    chat = 880001
    post_update(live, message(chat, "I had my injections 2 days ago and now there's pus and a fever"))

    page = chromium.new_page()
    page.goto(live.console_url + "/")
    assert page.url.endswith("/login")
    page.get_by_label("User name").fill("nurse_ana")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live.console_url + "/")

    # This chat's own escalation (other tests' escalations share the queue).
    from sqlalchemy import select

    from bot.storage.db import transaction
    from bot.storage.models import Escalation

    with transaction(live.database_url) as s:
        esc_id = s.scalar(select(Escalation.id).where(Escalation.conversation_id == str(chat),
                                                      Escalation.status == "open"))
    row = page.locator("tr", has=page.get_by_role("link", name=f"#{esc_id}", exact=True))
    assert "urgent" in row.inner_text() and "telegram" in row.inner_text()
    assert "pus" in row.inner_text() or "fever" in row.inner_text()
    row.get_by_role("link").click()
    assert page.locator(".transcript li.highlight").count() >= 1
    assert "there's pus and a fever" in page.locator(".transcript").inner_text()

    # Reply: it goes out on Telegram and appears in the transcript.
    page.get_by_label("Reply to the patient").fill("Hello, this is Ana from the clinic. Can we call you now?")
    page.get_by_role("button", name="Send reply").click()
    page.wait_for_load_state()
    assert any("this is Ana from the clinic" in t for t in texts_to(live, chat))
    assert "this is Ana from the clinic" in page.locator(".transcript").inner_text()

    # Take over: the patient is told, and the assistant stays quiet for ordinary messages.
    page.get_by_role("button", name="Take over the conversation").click()
    page.wait_for_load_state()
    assert "now answering you" in texts_to(live, chat)[-1]
    before = len(texts_to(live, chat))
    # The webhook answers once the turn is over, so whatever the assistant said is sent by then.
    assert post_update(live, message(chat, "yes please call me, when will I see results by the way?")) == \
        (200, {"status": "done"})
    assert len(texts_to(live, chat)) == before  # no assistant reply while staff answer
    page.reload()
    assert "when will I see results by the way" in page.locator(".transcript").inner_text()
    assert "paused" in page.locator("dl.facts").inner_text()

    page.get_by_role("button", name="Hand back to the assistant").click()
    page.wait_for_load_state()
    page.get_by_label("Staff note").fill("Called the patient; coming in today.")
    page.get_by_role("button", name="Add note").click()
    page.wait_for_load_state()
    page.get_by_label("Outcome").select_option("appointment_booked")
    page.get_by_role("button", name="Resolve").click()
    page.wait_for_load_state()
    assert "resolved" in page.locator("dl.facts").inner_text()

    page.get_by_role("link", name="Audit log").click()
    audit = page.locator("table").inner_text()
    for action in ("login", "view", "reply", "takeover", "handback", "note", "resolve"):
        assert action in audit, action
    assert "coming in today" not in audit
    page.screenshot(path=str(tmp_path / "console-audit.png"))
    page.close()
