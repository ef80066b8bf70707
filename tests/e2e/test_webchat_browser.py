"""The real chat page in headless Chromium (Debian's, driven by Playwright; installed by
scripts/browser.sh): a patient asks, clicks, reloads, and reports a warning sign."""
import os

import pytest

pytestmark = pytest.mark.slow
def bot_texts(page):
    return page.locator(".cw-bot").all_inner_texts()


def wait_for_bot(page, contains, timeout=30000):
    page.wait_for_function(
        """(needle) => Array.from(document.querySelectorAll('.cw-bot')).some(li => li.textContent.includes(needle))""",
        arg=contains, timeout=timeout)


def test_patient_journey_in_the_browser(live, chromium, kb, tmp_path):
    shots = os.environ.get("SCREENSHOT_DIR") or str(tmp_path)
    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    page.goto(live.chat_page)
    panel = page.get_by_role("dialog", name="Clinic assistant")
    assert panel.is_visible()
    box = page.get_by_label("Your message")

    # A knowledge question gets the vetted answer, after the disclaimer.
    box.fill("is it ok to drink alcohol after my treatment?")
    box.press("Enter")
    answer = kb.get("aftercare_smoking_alcohol").answer
    wait_for_bot(page, answer[:60])
    assert "automated assistant" in bot_texts(page)[0]
    assert "is it ok to drink alcohol" in page.locator(".cw-user").last.inner_text()

    # Quick replies: the honest no-answer offers to pass the question on; click "No".
    box.fill("what does the treatment cost?")
    box.press("Enter")
    wait_for_bot(page, "don't have a reviewed answer")
    page.get_by_role("button", name="No, thanks").last.click()
    wait_for_bot(page, "Is there anything else I can help you with")

    # Whatever is typed is shown as text, never as HTML.
    box.fill('<img src=x onerror="window.injected=1">')
    box.press("Enter")
    page.wait_for_timeout(1500)
    assert page.evaluate("window.injected === undefined")
    assert page.locator(".cw-log img").count() == 0
    page.screenshot(path=f"{shots}/webchat-desktop.png")

    # A reload keeps the conversation.
    page.reload()
    wait_for_bot(page, answer[:60])
    assert any("drink alcohol" in t for t in page.locator(".cw-user").all_inner_texts())

    # A warning sign: the escalation message. Staff have no number to call this patient on, so
    # no call is promised: it says whom to call now.
    box = page.get_by_label("Your message")
    box.fill("I had the injections 2 days ago and now I have a fever and chills")
    box.press("Enter")
    wait_for_bot(page, "alerted the clinic's staff")
    [urgent] = [t for t in bot_texts(page) if "alerted the clinic's staff" in t]
    assert f"please call the clinic now on {live.clinic.contact}" in urgent and "will get in touch" not in urgent
    page.close()


def test_message_typed_before_the_connection_is_kept_and_sent(live, chromium, kb):
    # Hold the session request so the patient types before the socket exists: the message
    # must stay on screen, survive the history render, and be answered once.
    held = []
    page = chromium.new_page()
    page.route("**/webhooks/webchat/session", lambda route: held.append(route))
    page.goto(live.chat_page)
    box = page.get_by_label("Your message")
    box.fill("is it ok to drink alcohol after my treatment?")
    box.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('.cw-user').length === 1")
    assert len(held) == 1
    held[0].continue_()
    wait_for_bot(page, kb.get("aftercare_smoking_alcohol").answer[:60])
    users = page.locator(".cw-user").all_inner_texts()
    assert len(users) == 1 and "is it ok to drink alcohol" in users[0]
    page.close()


def test_unreachable_server_is_said_once_and_the_message_waits(live, chromium):
    page = chromium.new_page()
    page.route("**/webhooks/webchat/session", lambda route: route.fulfill(status=503, body="down"))
    page.goto(live.chat_page)
    box = page.get_by_label("Your message")
    box.fill("hello")
    box.press("Enter")
    wait_for_bot(page, "can't reach the assistant")
    page.wait_for_timeout(300)
    assert sum("can't reach" in t for t in bot_texts(page)) == 1
    # The retry succeeds once the server answers again, and the waiting message goes out.
    page.unroute("**/webhooks/webchat/session")
    wait_for_bot(page, "What would you like to know", timeout=20000)
    page.close()


def test_phone_sized_and_keyboard_only(live, chromium, tmp_path):
    shots = os.environ.get("SCREENSHOT_DIR") or str(tmp_path)
    page = chromium.new_page(viewport={"width": 375, "height": 740})
    page.goto(live.chat_page)
    panel = page.get_by_role("dialog", name="Clinic assistant")
    assert panel.bounding_box()["width"] >= 370  # full width on a phone
    # Keyboard: Escape closes and returns focus to the launcher; Enter opens and focuses the input.
    page.keyboard.press("Escape")
    assert not panel.is_visible()
    assert page.evaluate("document.activeElement.className") == "cw-launcher"
    page.keyboard.press("Enter")
    assert panel.is_visible()
    assert page.evaluate("document.activeElement.id") == "cw-input"
    page.keyboard.type("hello")
    page.keyboard.press("Enter")
    wait_for_bot(page, "What would you like to know")
    assert page.get_by_role("log", name="Conversation").get_attribute("aria-live") == "polite"
    page.screenshot(path=f"{shots}/webchat-phone.png")
    page.get_by_role("button", name="Close chat").click()  # touch users can close it too
    assert not panel.is_visible()
    page.close()


def test_guided_check_in_the_browser_a_click_escalates(live, chromium, tmp_path):
    from bot.triage.guided_check import guided_check

    shots = os.environ.get("SCREENSHOT_DIR") or str(tmp_path)
    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    page.goto(live.chat_page)
    box = page.get_by_label("Your message")
    box.fill("my scalp is a little pink and tender today, had the injections yesterday")
    box.press("Enter")
    wait_for_bot(page, "do you have any of these right now")
    for question in guided_check().questions:
        assert page.get_by_role("button", name=question.title).last.is_visible()
    page.screenshot(path=f"{shots}/webchat-guided-check.png")
    emergency = next(q for q in guided_check().questions if q.level == "emergency")
    page.get_by_role("button", name=emergency.title).last.click()
    wait_for_bot(page, "emergency")  # the answer the button sent was escalated at its level
    assert emergency.title in page.locator(".cw-user").last.inner_text()  # the widget shows the title
    page.close()


def test_greeting_wrapped_and_two_questions_in_the_browser(live, chromium, kb):
    page = chromium.new_page()
    page.goto(live.chat_page)
    box = page.get_by_label("Your message")
    box.fill("Hi! quick question: how long is the downtime? and can I drink alcohol after?")
    box.press("Enter")
    wait_for_bot(page, kb.get("recovery_downtime").answer[:60])
    wait_for_bot(page, kb.get("aftercare_smoking_alcohol").answer[:60])
    page.close()


def test_after_deleting_the_conversation_the_page_starts_a_new_one_and_loses_nothing(live, chromium, kb):
    page = chromium.new_page()
    page.goto(live.chat_page)
    box = page.get_by_label("Your message")
    box.fill("please delete my data")
    box.press("Enter")
    wait_for_bot(page, "delete this conversation")
    old_token = page.evaluate("localStorage.getItem('clinic-chat-token')")
    page.get_by_role("button", name="Yes").last.click()
    wait_for_bot(page, "being deleted now")
    # The token is revoked: this message is refused by the server, handed back, and sent again
    # by the page in a new conversation, where it is answered.
    box.fill("is it ok to drink alcohol after my treatment?")
    box.press("Enter")
    wait_for_bot(page, kb.get("aftercare_smoking_alcohol").answer[:60])
    assert page.evaluate("localStorage.getItem('clinic-chat-token')") not in (None, old_token)
    users = page.locator(".cw-user").all_inner_texts()
    assert len(users) == 1 and "drink alcohol" in users[0]  # the new conversation shows only it
    page.close()
