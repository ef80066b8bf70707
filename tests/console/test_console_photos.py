"""The escalation page lists a patient's photos without reading their bytes (each is up to
5 MB); staff open one photo at a time through its own route, which is audited."""
import re

from sqlalchemy import event, select

from bot.escalation.store import EscalationStore, add_attachment
from bot.storage.db import get_engine, transaction
from bot.storage.models import EscalationAttachment
from tests.console.conftest import sign_in


def statements_during(url, action):
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        seen.append(" ".join(statement.split()).lower())

    engine = get_engine(url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        result = action()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return result, seen


def reads_photo_bytes(statement: str) -> bool:
    columns = statement.split(" from ")[0]
    return statement.startswith("select") and (
        "escalation_attachments.data" in columns
        or ("escalation_attachments" in statement and re.search(r"\bdata\b", columns) is not None))


def test_the_escalation_page_lists_photos_without_reading_their_bytes(console):
    esc = EscalationStore(console.url).raise_or_update(
        conversation_id="photos-1", channel="telegram", sender_id="photos-1", level="urgent", reason="symptoms",
        trigger_message="the area is red and hot")
    photos = [b"\xff\xd8\xff" + bytes([i]) * (400_000 + i) for i in range(10)]
    for p in photos:
        add_attachment(console.url, esc.escalation_id, "image/jpeg", p)
    with transaction(console.url) as s:
        ids = list(s.scalars(select(EscalationAttachment.id).where(
            EscalationAttachment.escalation_id == esc.escalation_id).order_by(EscalationAttachment.id)))
    staff = sign_in(console)

    page, statements = statements_during(console.url, lambda: staff.get(f"/escalations/{esc.escalation_id}"))
    assert page.status_code == 200
    for n, (attachment_id, photo) in enumerate(zip(ids, photos), start=1):
        assert f'<a href="/attachments/{attachment_id}">photo {n}</a> ({len(photo)} bytes)' in page.text
    assert any("escalation_attachments" in s for s in statements)  # the listing was queried...
    assert [s for s in statements if reads_photo_bytes(s)] == []  # ...without the photos' bytes

    # One photo, on its own route: its bytes, and an audit entry.
    photo, statements = statements_during(console.url, lambda: staff.get(f"/attachments/{ids[3]}"))
    assert photo.status_code == 200 and photo.content == photos[3]
    assert photo.headers["content-type"] == "image/jpeg"
    assert sum(reads_photo_bytes(s) for s in statements) == 1
    assert "view_attachment" in staff.get("/audit").text
