"""Admins: staff accounts and the audit log."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from bot.console import accounts, review
from bot.console.web import Console, bad_request, valid_id

USER_ACTIONS = ("create", "deactivate", "activate")


def routes(console: Console):
    url = console.url

    async def audit_page(request: Request):
        return console.page(request, "audit.html", entries=review.audit_entries(url))

    async def users_page(request: Request):
        return console.page(request, "users.html", users=accounts.list_users(url), roles=accounts.ROLES,
                            error=request.query_params.get("error"))

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

    return [
        Route("/audit", console.guard(audit_page, admin=True), methods=["GET"]),
        Route("/users", console.guard(users_page, admin=True), methods=["GET"]),
        Route("/users", console.guard(users_action, admin=True), methods=["POST"]),
    ]
