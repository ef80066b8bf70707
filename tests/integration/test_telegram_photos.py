"""Photos through the Telegram channel in process (the stand-in Bot API on loopback, real
SQLite and PostgreSQL): hundreds against one escalation are refused past the cap without being
downloaded, and their database work never runs on the event loop."""
import asyncio
import itertools
import threading

import pytest
from sqlalchemy import event, func, select

from bot.channels import rate_limit, telegram
from bot.config.clinic import load_clinic
from bot.escalation.store import EscalationStore
from bot.storage.db import get_engine, transaction
from bot.storage.models import EscalationAttachment
from tests.fakes.telegram_api import FakeTelegramAPI

TOKEN = "424242:TEST-photo-limits"
SECRET = "photo-limits-secret-0123456789abcdef"
_ids = itertools.count(1)


def photo_update(chat_id, file_id):
    return {"update_id": next(_ids), "message": {
        "message_id": next(_ids), "date": 1700000000, "chat": {"id": chat_id, "type": "private"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Pat"},
        "photo": [{"file_id": file_id, "file_unique_id": f"u-{file_id}", "width": 10, "height": 10,
                   "file_size": 11}]}}


@pytest.fixture
def api():
    api = FakeTelegramAPI(TOKEN)
    yield api
    api.close()


@pytest.fixture
def channel(api, db_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_url)
    return telegram.TelegramInput(TOKEN, SECRET, base_url=api.base_url, base_file_url=api.base_file_url)


@pytest.fixture
def no_rate_limit(monkeypatch):
    """The per-sender limit off ("0", as an operator may set it), so only the cap applies."""
    monkeypatch.setenv("RATE_LIMIT_BURST", "0")
    rate_limit.limiter.cache_clear()
    yield
    rate_limit.limiter.cache_clear()


def open_escalation(url, chat):
    return EscalationStore(url).raise_or_update(
        conversation_id=str(chat), channel="telegram", sender_id=str(chat), level="urgent", reason="symptoms",
        trigger_message="it keeps bleeding").escalation_id


def texts_to(api, chat):
    return [p["text"] for p in api.sent() if str(p.get("chat_id")) == str(chat)]


def test_hundreds_of_photos_to_one_escalation_stop_at_the_cap_without_being_downloaded(no_rate_limit, channel, api,
                                                                                      db_url):
    chat = 7001
    esc = open_escalation(db_url, chat)
    for i in range(250):
        api.files[f"p{i}"] = b"\xff\xd8" + str(i).encode()

    async def send_all():
        for i in range(250):
            await channel.handle(photo_update(chat, f"p{i}"), on_new_message=None)

    asyncio.run(send_all())
    with transaction(db_url) as s:
        stored = s.scalar(select(func.count()).select_from(EscalationAttachment)
                          .where(EscalationAttachment.escalation_id == esc))
    assert stored == 10  # MAX_PHOTOS_PER_ESCALATION's default
    assert len(api.sent("getFile")) == 10  # the refused 240 were never fetched
    texts = texts_to(api, chat)
    assert sum("added the photo to your report" in t for t in texts) == 10
    refusals = [t for t in texts if "as many photos" in t]
    assert len(refusals) == 1 and load_clinic().contact in refusals[0]
    assert len(texts) == 11


def test_photo_database_work_runs_off_the_event_loop(channel, api, db_url):
    chat = 7002
    open_escalation(db_url, chat)
    api.files["off-loop"] = b"\xff\xd8off-loop"
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        seen.append((threading.get_ident(), statement))

    async def send():
        loop_thread = threading.get_ident()
        await channel.handle(photo_update(chat, "off-loop"), on_new_message=None)
        return loop_thread

    engine = get_engine(db_url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        loop_thread = asyncio.run(send())
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert "added the photo to your report" in texts_to(api, chat)[-1]
    writes = [s for _, s in seen if s.lstrip().upper().startswith("INSERT INTO ESCALATION_ATTACHMENTS")]
    assert len(writes) == 1
    on_loop = [s.split("\n")[0] for t, s in seen if t == loop_thread]
    assert on_loop == [], f"database statements on the event loop's thread: {on_loop}"


def test_a_bad_photo_cap_disables_the_channel_with_a_clear_error(api, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'clinic.db'}")
    monkeypatch.setenv("MAX_PHOTOS_PER_ESCALATION", "unlimited")
    channel = telegram.TelegramInput(TOKEN, SECRET, base_url=api.base_url, base_file_url=api.base_file_url)
    assert channel.problem and "MAX_PHOTOS_PER_ESCALATION='unlimited' is not valid" in channel.problem
    assert channel.get_output_channel() is None
