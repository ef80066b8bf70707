"""Signing in and out, and the health check."""
from __future__ import annotations

import asyncio
import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Route

from bot.channels.commands import clean_text
from bot.console import accounts, review, sessions
from bot.console.web import Console, read_form

LOGIN_CSRF_COOKIE = "console_login_csrf"
FAILED_SIGN_IN_DELAY = 0.5  # seconds added to every failed sign-in


def routes(console: Console):
    url, templates = console.url, console.templates

    async def login_form(request: Request):
        token = secrets.token_urlsafe(32)
        response = templates.TemplateResponse(request, "login.html", {"csrf": token, "error": None, "staff": None})
        console.set_cookie(response, LOGIN_CSRF_COOKIE, token, max_age=3600)
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
        console.set_cookie(response, sessions.COOKIE, sessions.start(url, staff))
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    async def logout(request: Request):
        sessions.end(url, request.cookies.get(sessions.COOKIE))
        review.record_audit(url, request.state.staff.username, "logout")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(sessions.COOKIE, path="/")
        return response

    async def health(_: Request):
        return JSONResponse({"status": "ok"})

    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", console.guard(logout), methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
