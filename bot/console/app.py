"""The staff console web app (Starlette + Jinja2, server-rendered, on its own port).

    create_app(settings) -> Starlette app;  python -m bot.console serves it (make run starts it)

No patient data in URLs (ids only) or logs; everything a patient typed is rendered as text
(Jinja2 autoescaping). Every page and API needs a signed-in staff member; forms carry a CSRF
token; admins also manage accounts and read the audit log.
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
from pathlib import Path
from typing import Optional

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bot.channels.commands import clean_text
from bot.console import accounts, curation, review, sessions
from bot.console.patient_messages import DeliveryError, send_to_patient
from bot.secrets import production
from bot.settings import Settings
from bot.storage.db import upgrade

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
LOGIN_CSRF_COOKIE = "console_login_csrf"
FAILED_SIGN_IN_DELAY = 0.5  # seconds added to every failed sign-in
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
ESCALATION_ACTIONS = ("acknowledge", "assign", "note", "resolve", "reply", "takeover", "handback")
USER_ACTIONS = ("create", "deactivate", "activate")
MAX_FORM_BYTES = 64 * 1024  # the longest form (a 4000-character note) is far below this
MAX_ID = 2**31 - 1  # larger ids cannot exist, and SQLite raises OverflowError past 2**63


def bad_request(why: str) -> PlainTextResponse:
    return PlainTextResponse(f"Bad request: {why}.", status_code=400)


async def read_form(request: Request):
    """(form, None), or (None, the 4xx to answer) when the body is not one our pages send:
    another content type (JSON, text), a multipart body that cannot be parsed, a file (no form
    uploads any), or far too much. Checked before the CSRF token, so a broken request is told
    what is wrong instead of "this form has expired" (tests/e2e/test_bad_input.py)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in FORM_TYPES:
        return None, bad_request("expected a form")
    declared = request.headers.get("content-length") or "0"
    if not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
        return None, PlainTextResponse("Request too large.", status_code=413)
    # Sent chunked, without a length: read only up to the limit, never the whole body first.
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None, PlainTextResponse("Request too large.", status_code=413,
                                           headers={"Connection": "close"})
    request = Request(request.scope, _replay(bytes(body)))
    try:
        return await request.form(max_files=0, max_fields=50), None
    except HTTPException:  # Starlette's multipart errors (no boundary, too many parts/files)
        return None, bad_request("the form cannot be read")


def _replay(body: bytes):
    """An ASGI receive that hands over a body already read (the stream can be read once)."""
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def valid_id(raw) -> Optional[int]:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return None
    return value if 0 < value <= MAX_ID else None


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'")
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response


def create_app(settings: Optional[Settings] = None) -> Starlette:
    settings = settings or Settings.from_env()
    url = settings.database_url
    upgrade(url)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    secure_cookies = production() or os.environ.get("CONSOLE_SECURE_COOKIES") == "1"

    def set_cookie(response: Response, name: str, value: str, max_age: Optional[int] = None) -> None:
        response.set_cookie(name, value, max_age=max_age, httponly=True, secure=secure_cookies,
                            samesite="strict", path="/")

    def signed_in(request: Request, touch: bool = True):
        return sessions.resolve(url, request.cookies.get(sessions.COOKIE), touch=touch)

    def page(request: Request, name: str, staff, csrf: str, **context):
        return templates.TemplateResponse(request, name, {"staff": staff, "csrf": csrf, **context})

    def guard(handler, admin: bool = False, api: bool = False):
        async def wrapped(request: Request):
            found = signed_in(request, touch=not api)
            if found is None:
                if api:
                    return JSONResponse({"error": "sign in first"}, status_code=401)
                return RedirectResponse("/login", status_code=303)
            staff, csrf = found
            if admin and not staff.is_admin:
                return PlainTextResponse("Only admins can do that.", status_code=403)
            if request.method == "POST":
                form, problem = await read_form(request)
                if problem is not None:
                    return problem
                if not sessions.csrf_ok(csrf, form.get("csrf")):
                    logger.warning("console: form without a valid CSRF token refused (user id %s)", staff.id)
                    return PlainTextResponse("This form has expired; go back and try again.", status_code=403)
                request.state.form = form
            request.state.staff, request.state.csrf = staff, csrf
            return await handler(request)
        return wrapped

    async def login_form(request: Request):
        token = secrets.token_urlsafe(32)
        response = templates.TemplateResponse(request, "login.html", {"csrf": token, "error": None, "staff": None})
        set_cookie(response, LOGIN_CSRF_COOKIE, token, max_age=3600)
        return response

    async def login(request: Request):
        form, problem = await read_form(request)
        if problem is not None:
            return problem
        if not sessions.csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE), form.get("csrf")):
            return PlainTextResponse("This form has expired; go back and try again.", status_code=403)
        # Cleaned: it is looked up and written to the audit log, and PostgreSQL refuses NUL.
        username = clean_text(str(form.get("username") or ""))[:64]
        # Argon2 is slow on purpose: off the event loop, so one sign-in never stalls the others.
        staff, problem = await asyncio.to_thread(accounts.authenticate, url, username,
                                                 str(form.get("password") or ""))
        if staff is None:
            await asyncio.sleep(FAILED_SIGN_IN_DELAY)
            # A name that matches no account is often a password typed in the wrong field.
            actor, why = (username or "-", problem) if problem != "unknown" else ("(no such account)", "invalid")
            review.record_audit(url, actor, "login_failed", detail=why)
            # One message for every failure: saying "locked" would tell an attacker that the
            # user name exists (only real accounts lock).
            message = ("Wrong user name or password. After several failed attempts, signing in "
                       "is paused for a few minutes.")
            return templates.TemplateResponse(request, "login.html",
                                              {"csrf": form.get("csrf"), "error": message, "staff": None},
                                              status_code=401)
        review.record_audit(url, staff.username, "login")
        response = RedirectResponse("/", status_code=303)
        set_cookie(response, sessions.COOKIE, sessions.start(url, staff))
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    async def logout(request: Request):
        sessions.end(url, request.cookies.get(sessions.COOKIE))
        review.record_audit(url, request.state.staff.username, "logout")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(sessions.COOKIE, path="/")
        return response

    async def queue_page(request: Request):
        status, level = request.query_params.get("status"), request.query_params.get("level")
        items = review.queue(url, status, level)
        # The list shows what patients wrote (each escalation's first sign): who saw it is audited.
        review.record_audit(url, request.state.staff.username, "viewed_queue", detail=f"{len(items)} shown")
        return page(request, "queue.html", request.state.staff, request.state.csrf, items=items,
                    status=status, level=level, statuses=review.STATUSES, levels=review.LEVELS,
                    newest=review.summary(url)["newest_id"])

    async def queue_summary(request: Request):
        return JSONResponse(review.summary(url))

    async def escalation_page(request: Request):
        escalation_id = valid_id(request.path_params["id"])
        if escalation_id is None:
            return PlainTextResponse("Not found", status_code=404)
        data = review.detail(url, escalation_id, request.state.staff.username)
        if data is None:
            return PlainTextResponse("Not found", status_code=404)
        return page(request, "escalation.html", request.state.staff, request.state.csrf,
                    outcomes=review.OUTCOMES, error=request.query_params.get("error"), **data)

    async def escalation_action(request: Request):
        escalation_id = valid_id(request.path_params["id"])
        if escalation_id is None:
            return PlainTextResponse("Not found", status_code=404)
        form, staff = request.state.form, request.state.staff
        action = str(form.get("action") or "")
        if action not in ESCALATION_ACTIONS:  # our pages only send these: a tampered request
            return bad_request("unknown action")
        target = f"/escalations/{escalation_id}"
        try:
            if action == "reply":
                # NUL and other control characters: refused by PostgreSQL, noise to a patient.
                text = clean_text(str(form.get("text") or "")).strip()
                if not text or len(text) > 2000:
                    raise review.ReviewError("a reply needs 1-2000 characters")
                # Sent first, recorded after: the history never shows a reply that did not go out.
                await send_to_patient(review.conversation_of(url, escalation_id), text, staff=staff.username)
                review.act(url, escalation_id, staff.username, "reply", text=text)
            elif action in ("takeover", "handback"):
                esc = review.act(url, escalation_id, staff.username, action)
                notice = ("A member of the clinic's staff is now answering you here." if action == "takeover"
                          else "You're chatting with the clinic's automated assistant again.")
                await send_to_patient(esc.conversation_id, notice, label=action, staff=staff.username)
            else:
                review.act(url, escalation_id, staff.username, action,
                           note=clean_text(str(form.get("note") or "")), outcome=form.get("outcome"),
                           assignee=staff.username if action == "assign" else None)
        except (review.ReviewError, DeliveryError) as exc:
            return RedirectResponse(f"{target}?error={type(exc).__name__}", status_code=303)
        return RedirectResponse(target, status_code=303)

    async def attachment_file(request: Request):
        attachment_id = valid_id(request.path_params["id"])
        found = attachment_id and review.attachment(url, attachment_id, request.state.staff.username)
        if not found:
            return PlainTextResponse("Not found", status_code=404)
        content_type, data = found
        return Response(data, media_type=content_type if content_type.startswith("image/") else "application/octet-stream",
                        headers={"Content-Disposition": "inline"})

    async def curation_page(request: Request):
        days = curation.per_day(url)
        groups = curation.grouped_questions(url)
        # Unanswered questions are patients' own words: who read them is audited.
        review.record_audit(url, request.state.staff.username, "viewed_curation", detail=f"{len(groups)} groups")
        peak = max([1] + [max(d["escalations"], d["unanswered"]) for d in days])
        return page(request, "curation.html", request.state.staff, request.state.csrf,
                    groups=groups, days=days, peak=peak)

    async def audit_page(request: Request):
        return page(request, "audit.html", request.state.staff, request.state.csrf,
                    entries=review.audit_entries(url))

    async def users_page(request: Request):
        return page(request, "users.html", request.state.staff, request.state.csrf,
                    users=accounts.list_users(url), error=request.query_params.get("error"))

    async def users_action(request: Request):
        form, staff = request.state.form, request.state.staff
        if form.get("action") not in USER_ACTIONS:
            return bad_request("unknown action")
        try:
            if form.get("action") == "create":
                user = accounts.create_user(url, str(form.get("username") or ""), str(form.get("password") or ""),
                                            str(form.get("role") or "staff"))
                review.record_audit(url, staff.username, "user_created", f"user:{user.id}", user.role)
            elif form.get("action") in ("deactivate", "activate"):
                user_id = valid_id(form.get("user_id"))
                if user_id is None:
                    return bad_request("user_id must be a user's id")
                if user_id == staff.id:
                    raise accounts.AccountError("you cannot deactivate yourself")
                accounts.set_active(url, user_id, form.get("action") == "activate")
                review.record_audit(url, staff.username, f"user_{form.get('action')}d", f"user:{user_id}")
        except (accounts.AccountError, ValueError):
            return RedirectResponse("/users?error=1", status_code=303)
        return RedirectResponse("/users", status_code=303)

    async def health(_: Request):
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", guard(logout), methods=["POST"]),
        Route("/", guard(queue_page), methods=["GET"]),
        Route("/api/queue", guard(queue_summary, api=True), methods=["GET"]),
        Route("/escalations/{id}", guard(escalation_page), methods=["GET"]),
        Route("/escalations/{id:int}", guard(escalation_action), methods=["POST"]),
        Route("/attachments/{id:int}", guard(attachment_file), methods=["GET"]),
        Route("/curation", guard(curation_page), methods=["GET"]),
        Route("/audit", guard(audit_page, admin=True), methods=["GET"]),
        Route("/users", guard(users_page, admin=True), methods=["GET"]),
        Route("/users", guard(users_action, admin=True), methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
