"""The knowledge area: entries with their state and signatures, the editor (with a live
preview of what the patient will see and the loader's checks next to each field), versions
and their differences, sign-off, retiring, and an export of the published set.

The rules (versions, checks, who may sign what) are bot/knowledge/store.py's; these routes
only turn forms into calls and refusals into messages next to the fields concerned.
"""
from __future__ import annotations

import io
import zipfile
from typing import Dict, List, Optional

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.channels.commands import clean_text
from bot.console import curation, review
from bot.console.routes.curation import question_ids
from bot.console.web import Console, bad_request, valid_id
from bot.knowledge import checks, export, retrain, store

ENTRY_ACTIONS = ("save", "save_draft", "submit", "sign", "retire", "restore")
MAX_FIELD = 20000  # characters in one field; the form limit (64 KiB) bounds it anyway


def fields_from(form) -> Dict[str, object]:
    """The editor's form as entry fields: one question a line, one source passage a line."""
    def lines(name: str) -> List[str]:
        return [line.strip() for line in multiline(form.get(name)).split("\n") if line.strip()]

    return {"id": multiline(form.get("id")).strip(), "title": multiline(form.get("title")).strip(),
            "questions": lines("questions"), "answer": multiline(form.get("answer")), "source": lines("source"),
            "authored_by": checks.CLINIC if form.get("clinic_authored") == "yes" else checks.ARTICLE}


def multiline(raw) -> str:
    """clean_text drops control characters (PostgreSQL refuses NUL) - line breaks are kept."""
    text = str(raw or "").replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(clean_text(line) for line in text.split("\n"))[:MAX_FIELD]


def form_values(fields: Dict[str, object]) -> Dict[str, str]:
    """Entry fields back into the editor's text boxes."""
    return {"id": str(fields.get("id") or ""), "title": str(fields.get("title") or ""),
            "questions": "\n".join(fields.get("questions") or []), "answer": str(fields.get("answer") or ""),
            "source": "\n".join(fields.get("source") or []),
            "clinic_authored": fields.get("authored_by") == checks.CLINIC}


def entry_id_of(raw) -> Optional[str]:
    """An entry id from a URL or a form, or None: anything else is looked up nowhere (and
    PostgreSQL refuses some characters outright)."""
    text = str(raw or "")
    return text if len(text) <= checks.MAX_ID_CHARS and checks.ID_PATTERN.fullmatch(text) else None


def version_values(v: store.Version) -> Dict[str, str]:
    return form_values({"id": v.entry_id, "title": v.title, "questions": list(v.questions), "answer": v.answer,
                        "source": list(v.source), "authored_by": v.authored_by})


def routes(console: Console):
    url = console.url

    def can_sign(staff) -> bool:
        return staff.role in store.SIGNING_ROLES

    async def list_page(request: Request):
        entries = store.all_entries(url)
        counts: Dict[str, int] = {}
        for e in entries:
            counts[e.state] = counts.get(e.state, 0) + 1
        return console.page(request, "knowledge_list.html", entries=entries, counts=counts,
                            production=console.production, can_sign=can_sign(request.state.staff),
                            model=retrain.status(url), retrain_on=retrain.enabled(),
                            files_model=retrain.FILES_MODEL)

    def entry_page(request: Request, entry: store.Entry, values=None, problems=None, message=None,
                   status_code: int = 200):
        latest, published = entry.latest, entry.published
        changes = store.diff(published, latest) if published and published.number != latest.number else []
        return console.page(
            request, "knowledge_entry.html", entry=entry, values=values or version_values(latest),
            problems=problems or {}, message=message, base=latest.number, changes=changes,
            can_sign=can_sign(request.state.staff), production=console.production,
            served=entry.served(console.production), saved=valid_id(request.query_params.get("saved")),
            status_code=status_code)

    async def show_entry(request: Request):
        entry_id = entry_id_of(request.path_params["entry_id"])
        entry = entry_id and store.get_entry(url, entry_id)
        if not entry:
            return PlainTextResponse("Not found", status_code=404)
        return entry_page(request, entry)

    async def entry_action(request: Request):
        entry_id = entry_id_of(request.path_params["entry_id"])
        entry = entry_id and store.get_entry(url, entry_id)
        if not entry:
            return PlainTextResponse("Not found", status_code=404)
        form, staff = request.state.form, request.state.staff
        action = str(form.get("action") or "")
        if action not in ENTRY_ACTIONS:
            return bad_request("unknown action")
        back = RedirectResponse(f"/knowledge/{entry_id}", status_code=303)
        try:
            if action in ("save", "save_draft"):
                fields = fields_from(form)
                base = valid_id(form.get("base"))
                try:
                    version = store.save(url, entry_id, staff.username, fields, base=base,
                                         submit=action == "save", note=multiline(form.get("note")))
                except store.ContentRefused as exc:
                    # Refused, and nothing the staff member typed is lost: the form comes back
                    # with their text and each problem next to its field.
                    return entry_page(request, entry, values=form_values({**fields, "id": entry_id}),
                                      problems=checks.by_field(exc.problems), status_code=422,
                                      message="Not saved: fix the fields marked below.")
                except store.Conflict as exc:
                    return entry_page(request, store.get_entry(url, entry_id),
                                      values=form_values({**fields, "id": entry_id}), status_code=409,
                                      message=f"Not saved: {exc}.")
                return RedirectResponse(f"/knowledge/{entry_id}?saved={version.number}", status_code=303)
            version_id = valid_id(form.get("version_id"))
            if action == "submit":
                store.submit(url, _own_version(entry, version_id), staff.username)
            elif action == "sign":
                if form.get("confirm") != "yes":
                    raise store.KnowledgeStoreError("tick the box to confirm you read this version")
                store.sign(url, _own_version(entry, version_id), staff.username, staff.role)
            elif action == "retire":
                store.retire(url, entry_id, staff.username, multiline(form.get("reason")))
            elif action == "restore":
                store.restore(url, entry_id, staff.username, staff.role)
        except store.KnowledgeStoreError as exc:
            return entry_page(request, store.get_entry(url, entry_id), message=f"Not done: {exc}.",
                              status_code=422)
        return back

    def _own_version(entry: store.Entry, version_id: Optional[int]) -> int:
        if version_id is None or all(v.id != version_id for v in entry.versions):
            raise store.KnowledgeStoreError("that version is not one of this entry's")
        return version_id

    async def new_page(request: Request):
        values = form_values({})
        ids = question_ids(request.query_params.get("from"))
        if ids:  # started from a curation group: its phrasings are the first questions
            values["questions"] = "\n".join(curation.questions_by_id(url, ids))
            review.record_audit(url, request.state.staff.username, "viewed_unanswered",
                                detail=f"{len(ids)} questions, for a new entry")
        return console.page(request, "knowledge_new.html", values=values, problems={}, message=None)

    async def create_entry(request: Request):
        form, staff = request.state.form, request.state.staff
        fields = fields_from(form)
        try:
            version = store.create(url, staff.username, fields, submit=form.get("action") != "save_draft",
                                   note=multiline(form.get("note")))
        except store.ContentRefused as exc:
            return console.page(request, "knowledge_new.html", values=form_values(fields),
                                problems=checks.by_field(exc.problems), status_code=422,
                                message="Not saved: fix the fields marked below.")
        return RedirectResponse(f"/knowledge/{version.entry_id}?saved=1", status_code=303)

    async def preview(request: Request):
        """The live check: what the patient would see, and what saving would refuse."""
        form = request.state.form
        fields = fields_from(form)
        new = form.get("new") == "yes"
        if not new:
            fields["id"] = entry_id_of(form.get("entry_id")) or ""
        problems = store.check(url, fields, new=new)
        answer = checks.clean_answer(str(fields["answer"]))
        return JSONResponse({"answer": answer, "title": fields["title"], "words": len(answer.split()),
                             "problems": checks.by_field(problems)})

    async def diff_page(request: Request):
        entry_id = entry_id_of(request.path_params["entry_id"])
        entry = entry_id and store.get_entry(url, entry_id)
        if not entry:
            return PlainTextResponse("Not found", status_code=404)
        old = entry.version(valid_id(request.query_params.get("from")) or 0)
        new = entry.version(valid_id(request.query_params.get("to")) or 0)
        if old is None or new is None:
            return PlainTextResponse("Not found", status_code=404)
        return console.page(request, "knowledge_diff.html", entry=entry, old=old, new=new,
                            changes=store.diff(old, new))

    async def export_zip(request: Request):
        """The published set in knowledge/entries/ format, to review as a change in git."""
        files, left_out = export.published_files(url)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            for name, text in sorted(files.items()):
                z.writestr(f"entries/{name}", text)
        review.record_audit(url, request.state.staff.username, "knowledge_exported", "knowledge",
                            f"{len(files)} published, {len(left_out)} not published")
        return Response(buffer.getvalue(), media_type="application/zip",
                        headers={"Content-Disposition": 'attachment; filename="knowledge-published.zip"'})

    return [
        Route("/knowledge", console.guard(list_page), methods=["GET"]),
        Route("/knowledge/new", console.guard(new_page), methods=["GET"]),
        Route("/knowledge/new", console.guard(create_entry), methods=["POST"]),
        Route("/knowledge/preview", console.guard(preview, api=True), methods=["POST"]),
        Route("/knowledge/export.zip", console.guard(export_zip), methods=["GET"]),
        Route("/knowledge/{entry_id:str}", console.guard(show_entry), methods=["GET"]),
        Route("/knowledge/{entry_id:str}", console.guard(entry_action), methods=["POST"]),
        Route("/knowledge/{entry_id:str}/diff", console.guard(diff_page), methods=["GET"]),
    ]
