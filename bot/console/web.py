"""What every console page shares: reading a form safely, sign-in and CSRF checks, the page
template, security headers. The pages themselves are in bot/console/routes/, one module per
area."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from starlette.exceptions import HTTPException
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from bot.console import sessions

logger = logging.getLogger("bot.console.app")
HERE = Path(__file__).parent
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# The longest form (a knowledge entry: an answer, its questions and source passages) is far
# below this.
MAX_FORM_BYTES = 64 * 1024
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


class Console:
    """The state every route module needs: the database, the templates, cookie settings, and
    the sign-in guard."""

    def __init__(self, url: str, secure_cookies: bool, production: bool):
        self.url = url
        self.secure_cookies = secure_cookies
        self.production = production
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))

    def set_cookie(self, response: Response, name: str, value: str, max_age: Optional[int] = None) -> None:
        response.set_cookie(name, value, max_age=max_age, httponly=True, secure=self.secure_cookies,
                            samesite="strict", path="/")

    def signed_in(self, request: Request, touch: bool = True):
        return sessions.resolve(self.url, request.cookies.get(sessions.COOKIE), touch=touch)

    def page(self, request: Request, name: str, status_code: int = 200, **context):
        from bot.knowledge.store import unsigned_served

        # Development serves entries nobody signed (bot/knowledge/live.py): every page says so.
        unsigned = [] if self.production else unsigned_served(self.url)
        return self.templates.TemplateResponse(
            request, name, {"staff": request.state.staff, "csrf": request.state.csrf,
                            "unsigned_served": unsigned, **context}, status_code=status_code)

    def guard(self, handler, admin: bool = False, api: bool = False):
        async def wrapped(request: Request):
            found = self.signed_in(request, touch=not api)
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
