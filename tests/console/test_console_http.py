"""The console over real HTTP: sign-in required everywhere, CSRF, roles, escaping, audit."""
import pytest

from bot.escalation.store import EscalationStore
from tests.console.conftest import ADMIN, PASSWORD, STAFF, client, csrf_from, sign_in

PAGES = ["/", "/curation", "/audit", "/users", "/escalations/1", "/attachments/1"]


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_requests_are_sent_to_sign_in(console, path):
    resp = client(console).get(path)
    assert resp.status_code == 303 and resp.headers["location"] == "/login"


def test_anonymous_api_gets_401(console):
    assert client(console).get("/api/queue").status_code == 401


def test_posts_without_the_csrf_token_are_refused(console):
    esc = EscalationStore(console.url).raise_or_update(conversation_id="csrf-1", channel="webchat",
                                                       sender_id="csrf-1", level="urgent", reason="symptoms",
                                                       trigger_message="fever")
    c = sign_in(console)
    assert c.post(f"/escalations/{esc.escalation_id}", data={"action": "acknowledge"}).status_code == 403
    assert c.post(f"/escalations/{esc.escalation_id}", data={"action": "acknowledge", "csrf": "forged"}).status_code == 403
    # The login form too.
    fresh = client(console)
    fresh.get("/login")
    assert fresh.post("/login", data={"username": ADMIN, "password": PASSWORD}).status_code == 403


def test_wrong_password_is_refused_and_audited(console):
    c = client(console)
    token = csrf_from(c.get("/login").text)
    resp = c.post("/login", data={"csrf": token, "username": STAFF, "password": "not-the-password"})
    assert resp.status_code == 401 and "Wrong user name or password" in resp.text
    audit = sign_in(console).get("/audit").text
    assert "login_failed" in audit and "not-the-password" not in audit


def test_staff_cannot_reach_admin_pages(console):
    c = sign_in(console, STAFF)
    assert c.get("/").status_code == 200
    assert c.get("/audit").status_code == 403
    assert c.get("/users").status_code == 403
    csrf = csrf_from(c.get("/").text)
    assert c.post("/users", data={"csrf": csrf, "action": "create", "username": "x1",
                                  "password": "a-long-enough-password"}).status_code == 403


def test_session_cookie_is_http_only_and_strict(console):
    c = client(console)
    token = csrf_from(c.get("/login").text)
    resp = c.post("/login", data={"csrf": token, "username": ADMIN, "password": PASSWORD})
    cookie = resp.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "console_session=" in cookie


def test_signing_out_ends_the_session(console):
    c = sign_in(console)
    csrf = csrf_from(c.get("/").text)
    assert c.post("/logout", data={"csrf": csrf}).status_code == 303
    assert c.get("/").status_code == 303


def test_patient_text_is_shown_as_text_and_the_view_is_audited(console):
    nasty = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    esc = EscalationStore(console.url).raise_or_update(conversation_id="xss-1", channel="webchat",
                                                       sender_id="xss-1", level="urgent", reason="symptoms",
                                                       trigger_message=nasty,
                                                       symptoms=[{"label": "FEVER", "text": nasty, "level": "urgent"}])
    c = sign_in(console)
    page = c.get(f"/escalations/{esc.escalation_id}").text
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "<img src=x" not in page
    queue = c.get("/").text
    assert "<script>alert" not in queue and f"#{esc.escalation_id}" in queue
    audit = c.get("/audit").text
    assert f"escalation:{esc.escalation_id}" in audit and "view" in audit


def test_queue_puts_emergencies_first(console):
    store = EscalationStore(console.url)
    store.raise_or_update(conversation_id="q-urgent", channel="telegram", sender_id="q1", level="urgent",
                          reason="symptoms", trigger_message="pus")
    emergency = store.raise_or_update(conversation_id="q-emergency", channel="webchat", sender_id="q2",
                                      level="emergency", reason="symptoms", trigger_message="can't breathe")
    page = sign_in(console, STAFF).get("/?status=open").text
    first_row = page[page.index("<tbody>"):].split("</tr>")[0]
    assert f"#{emergency.escalation_id}" in first_row
    assert sign_in(console, STAFF).get("/api/queue").json()["open"] >= 2


def test_notes_and_resolution_are_recorded(console):
    esc = EscalationStore(console.url).raise_or_update(conversation_id="res-1", channel="webchat",
                                                       sender_id="res-1", level="urgent", reason="symptoms",
                                                       trigger_message="fever")
    c = sign_in(console, STAFF)
    path = f"/escalations/{esc.escalation_id}"
    csrf = csrf_from(c.get(path).text)
    for data in ({"action": "acknowledge"}, {"action": "assign"}, {"action": "note", "note": "called, ok"},
                 {"action": "resolve", "outcome": "advice_given"}):
        assert c.post(path, data={"csrf": csrf, **data}).status_code == 303
    page = c.get(path).text
    assert "resolved" in page and "Advice given" in page and "called, ok" in page and STAFF in page
    audit = sign_in(console).get("/audit").text
    for action in ("acknowledge", "assign", "note", "resolve"):
        assert action in audit
    assert "called, ok" not in audit  # the audit log records that a note was added, not its text


def test_curation_groups_similar_questions_with_counts(console):
    from bot.console.curation import grouped_questions, per_day
    from bot.storage.knowledge_log import KnowledgeLog

    log = KnowledgeLog(console.url)
    for text in ("how much does the treatment cost", "how much does one treatment cost?",
                 "how long does the treatment take", "are you open on sundays",
                 "what are your opening hours on weekends", "<b>bold</b> question"):
        log.record_unanswered("cur-1", "webchat", text, "out_of_scope", "out_of_scope", 0.9)
    groups = {frozenset(g["examples"]): g["count"] for g in grouped_questions(console.url)}
    assert groups[frozenset({"how much does the treatment cost", "how much does one treatment cost?"})] == 2
    # Grouped by meaning: these two share no word.
    assert groups[frozenset({"are you open on sundays", "what are your opening hours on weekends"})] == 2
    assert groups[frozenset({"how long does the treatment take"})] == 1
    assert per_day(console.url)[-1]["unanswered"] >= 5
    page = sign_in(console, STAFF).get("/curation").text
    assert "<svg" in page and "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page


def test_a_locked_account_gets_the_same_answer_as_a_wrong_password(console):
    """Only real accounts lock, so a distinct "locked" message would confirm a user name."""
    import datetime as dt

    from sqlalchemy import update

    from bot.console.accounts import create_user
    from bot.storage.db import transaction
    from bot.storage.models import StaffUser

    create_user(console.url, "locked_lu", PASSWORD, "staff")
    with transaction(console.url) as s:
        s.execute(update(StaffUser).where(StaffUser.username == "locked_lu")
                  .values(locked_until=dt.datetime.utcnow() + dt.timedelta(minutes=5)))

    def attempt(username, password):
        c = client(console)
        resp = c.post("/login", data={"csrf": csrf_from(c.get("/login").text), "username": username,
                                      "password": password})
        return resp.status_code, resp.text.replace(csrf_from(resp.text), "")

    locked = attempt("locked_lu", PASSWORD)  # even the right password, while locked
    unknown = attempt("nobody_here", PASSWORD)
    assert locked[0] == unknown[0] == 401
    assert "Wrong user name or password" in locked[1] and locked[1] == unknown[1]
