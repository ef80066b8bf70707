"""The escalation queue, one escalation, staff actions on it, and its photos."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.channels.commands import clean_text
from bot.console import review
from bot.console.patient_messages import DeliveryError, send_to_patient
from bot.console.web import Console, bad_request, valid_id

ESCALATION_ACTIONS = ("acknowledge", "assign", "note", "resolve", "reply", "takeover", "handback")


def routes(console: Console):
    url = console.url

    async def queue_page(request: Request):
        status, level = request.query_params.get("status"), request.query_params.get("level")
        items = review.queue(url, status, level)
        # The list shows what patients wrote (each escalation's first sign): who saw it is audited.
        review.record_audit(url, request.state.staff.username, "viewed_queue", detail=f"{len(items)} shown")
        return console.page(request, "queue.html", items=items, status=status, level=level,
                            statuses=review.STATUSES, levels=review.LEVELS,
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
        return console.page(request, "escalation.html", outcomes=review.OUTCOMES,
                            error=request.query_params.get("error"), **data)

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

    return [
        Route("/", console.guard(queue_page), methods=["GET"]),
        Route("/api/queue", console.guard(queue_summary, api=True), methods=["GET"]),
        Route("/escalations/{id}", console.guard(escalation_page), methods=["GET"]),
        Route("/escalations/{id:int}", console.guard(escalation_action), methods=["POST"]),
        Route("/attachments/{id:int}", console.guard(attachment_file), methods=["GET"]),
    ]
