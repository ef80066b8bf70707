"""Telegram's redelivery of an update whose handling was interrupted (the Rasa server was
restarted mid-turn) is handled, not answered as a duplicate; a finished one is a duplicate;
one being handled right now is "busy" (Telegram will deliver it again)."""
import datetime as dt

from sqlalchemy import update

from bot.channels.telegram_updates import TAKE_OVER_AFTER, UpdateLog
from bot.storage.db import transaction
from bot.storage.models import TelegramUpdate


def test_redelivery_of_an_interrupted_update_is_taken_over_once(db_url):
    log = UpdateLog(db_url)
    payload = {"update_id": 7, "message": {"text": "fever since this morning"}}
    assert log.record(7, payload) == "new"
    assert log.record(7, payload) == "busy"  # the first delivery is still being handled

    # The process handling it died: its row stays "received" and grows old.
    with transaction(db_url) as s:
        s.execute(update(TelegramUpdate).where(TelegramUpdate.update_id == 7)
                  .values(received_at=TelegramUpdate.received_at - TAKE_OVER_AFTER - dt.timedelta(seconds=1)))
    assert log.record(7, payload) == "taken_over"
    assert log.record(7, payload) == "busy"  # only one redelivery takes it over

    log.finish(7)
    assert log.record(7, payload) == "duplicate"
