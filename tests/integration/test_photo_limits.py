"""Photos kept with an escalation, on real SQLite and PostgreSQL: however many arrive, and
however many at once, only MAX_PHOTOS_PER_ESCALATION are kept, and the patient is told once."""
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from bot.config import settings
from bot.escalation import store
from bot.escalation.store import EscalationStore, add_attachment
from bot.storage.db import transaction
from bot.storage.models import EscalationAttachment, EscalationEvent

JPEG = b"\xff\xd8\xff\xe0" + b"photo" * 200


def open_escalation(url, conversation):
    return EscalationStore(url).raise_or_update(
        conversation_id=conversation, channel="telegram", sender_id=conversation, level="urgent",
        reason="symptoms", trigger_message="pus at the injection points").escalation_id


def kept(url, escalation_id):
    with transaction(url) as s:
        return s.scalar(select(func.count()).select_from(EscalationAttachment)
                        .where(EscalationAttachment.escalation_id == escalation_id))


def trail(url, escalation_id):
    with transaction(url) as s:
        return Counter(s.scalars(select(EscalationEvent.action).where(EscalationEvent.escalation_id == escalation_id)))


def test_hundreds_of_photos_at_once_keep_only_the_cap_and_the_patient_is_told_once(db_url, monkeypatch):
    monkeypatch.delenv("MAX_PHOTOS_PER_ESCALATION", raising=False)  # the default: 10
    esc = open_escalation(db_url, "tg-300")
    # 300 photos from 8 writers at once: the count and the insert cannot interleave.
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: add_attachment(db_url, esc, "image/jpeg", JPEG + bytes([i % 256])),
                                range(300)))
    assert kept(db_url, esc) == 10
    assert Counter(r.verdict for r in results) == {"ok": 10, "tell": 1, "drop": 289}
    assert len({r.attachment_id for r in results if r.verdict == "ok"}) == 10
    assert trail(db_url, esc)["attachment"] == 10 and trail(db_url, esc)[store.PHOTOS_REFUSED] == 1
    # The channel asks before downloading: a full escalation says so without another notice.
    assert store.photo_room(db_url, esc) == "drop"
    # The cap is per escalation: another patient's photos are still kept.
    other = open_escalation(db_url, "tg-other")
    assert store.photo_room(db_url, other) == "ok"
    assert add_attachment(db_url, other, "image/jpeg", JPEG).verdict == "ok"


def test_the_cap_comes_from_the_environment(db_url, monkeypatch):
    monkeypatch.setenv("MAX_PHOTOS_PER_ESCALATION", "3")
    esc = open_escalation(db_url, "tg-env")
    results = [add_attachment(db_url, esc, "image/jpeg", JPEG) for _ in range(5)]
    assert kept(db_url, esc) == 3
    assert [r.verdict for r in results] == ["ok"] * 3 + ["tell", "drop"]


@pytest.mark.parametrize("raw, cap", [(None, 10), ("", 10), (" 25 ", 25), ("1", 1), ("100", 100)])
def test_max_photos_values(raw, cap):
    assert store.parse_max_photos(raw) == cap


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "101", "ten", "1e3", "\u0661\u0662"])
def test_a_bad_max_photos_value_is_refused_with_its_name_and_the_valid_range(raw):
    with pytest.raises(settings.SettingsError, match=r"MAX_PHOTOS_PER_ESCALATION=.* whole number from 1 to 100"):
        store.parse_max_photos(raw)
