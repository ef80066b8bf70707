"""Curation: the questions the assistant could not answer, grouped, and - in one step - a
group's phrasings added to a knowledge entry as its next version, for sign-off like any edit
(or a new entry started from them, in the knowledge editor)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from bot.console import curation, review
from bot.console.web import Console, bad_request, valid_id
from bot.knowledge import checks, store

MAX_GROUP = 50  # phrasings added at once; a bigger group is added in turns


def question_ids(raw) -> list:
    ids = [valid_id(part) for part in str(raw or "").split(",")[:MAX_GROUP]]
    return [i for i in ids if i is not None]


def routes(console: Console):
    url = console.url

    def show(request: Request, error=None, status_code=200):
        days = curation.per_day(url)
        groups = curation.grouped_questions(url)
        # Unanswered questions are patients' own words: who read them is audited.
        review.record_audit(url, request.state.staff.username, "viewed_curation", detail=f"{len(groups)} groups")
        peak = max([1] + [max(d["escalations"], d["unanswered"]) for d in days])
        entries = [e for e in store.all_entries(url) if not e.retired_at]
        return console.page(request, "curation.html", groups=groups, days=days, peak=peak, entries=entries,
                            error=error, max_group=MAX_GROUP, status_code=status_code)

    async def curation_page(request: Request):
        return show(request)

    async def add_to_entry(request: Request):
        form, staff = request.state.form, request.state.staff
        ids = question_ids(form.get("question_ids"))
        entry_id = str(form.get("entry_id") or "")
        if not ids:
            return bad_request("question_ids must list unanswered questions' ids")
        if not checks.ID_PATTERN.fullmatch(entry_id) or len(entry_id) > checks.MAX_ID_CHARS:
            return bad_request("entry_id must be a knowledge entry's id")
        texts = curation.questions_by_id(url, ids)
        try:
            version = store.add_questions(url, entry_id, staff.username, texts)
        except store.KnowledgeStoreError as exc:
            # The page again, with what went wrong; nothing was changed.
            return show(request, error=f"Not added to '{entry_id}': {exc}", status_code=422)
        return RedirectResponse(f"/knowledge/{version.entry_id}?saved={version.number}", status_code=303)

    return [
        Route("/curation", console.guard(curation_page), methods=["GET"]),
        Route("/curation", console.guard(add_to_entry), methods=["POST"]),
    ]
