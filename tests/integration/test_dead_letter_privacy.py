"""Dead letters (spooled items that could not be replayed, set aside for a person) hold message
texts and whole trackers. They are purged with the conversation at the patient's request, and
on the retention schedule like everything else."""
import datetime as dt
import os
import time

import pytest

from bot.privacy.deletion import request_deletion
from bot.privacy.retention import purge_expired
from bot.resilience.spool import Spool


def _dead_letter(kind: str, sender: str, text: str, age_days: float = 0.0):
    spool = Spool(kind)
    spool.put({"sender_id": sender, "text": text}, sender=sender)
    [item] = [p for p in spool.for_sender(sender)]
    claimed = spool.claim(item)
    dead = spool.dead_letter(claimed)
    if age_days:
        then = time.time() - age_days * 86400
        os.utime(dead, (then, then))
    return dead


@pytest.fixture
def spool_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SPOOL_DIR", str(tmp_path / "spool"))
    return tmp_path / "spool"


def _texts(root):
    return [p.read_text() for p in root.rglob("*.json*")]


def test_deletion_request_purges_the_conversations_dead_letters(db_url, spool_dir):
    _dead_letter("messages", "web-gone", "my name is Quillfeather and my scalp is oozing")
    _dead_letter("trackers", "web-gone", "Quillfeather tracker")
    _dead_letter("messages", "web-other", "another patient's message")

    request_deletion(db_url, "web-gone")

    left = _texts(spool_dir)
    assert not any("Quillfeather" in t for t in left), left
    assert any("another patient's message" in t for t in left)


def test_retention_purges_dead_letters_older_than_the_period(db_url, spool_dir):
    _dead_letter("messages", "web-old", "Quillfeather, a year and more ago", age_days=400)
    _dead_letter("escalations", "web-old-esc", "Quillfeather escalation", age_days=400)
    _dead_letter("messages", "web-recent", "set aside last week", age_days=7)

    result = purge_expired(db_url, retention_days=365, now=dt.datetime.utcnow())

    left = _texts(spool_dir)
    assert not any("Quillfeather" in t for t in left), left
    assert any("set aside last week" in t for t in left)
    assert result.dead_letters == 2
