"""The durable record of Telegram updates: each update_id is stored before the webhook
answers, processed once, and picked up again if processing was interrupted."""
from __future__ import annotations

import datetime as dt
import json
from typing import List, Tuple

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.storage.db import transaction
from bot.storage.models import TelegramUpdate, utcnow

STALE_AFTER = dt.timedelta(minutes=2)
# A delivery still "received" after this long belongs to a process that died: a new
# delivery of the same update takes it over (a turn takes well under this).
TAKE_OVER_AFTER = dt.timedelta(seconds=30)


class UpdateLog:
    def __init__(self, database_url: str):
        self.url = database_url

    def record(self, update_id: int, payload: dict) -> str:
        """Store the update. Returns "new"; "duplicate" if it was handled before; "busy" if
        another delivery of it is being handled right now (answer so that Telegram tries
        again later); or "taken_over" if it was received but never finished (the process
        handling it died, and Telegram delivered it again): handle it now."""
        try:
            with transaction(self.url) as s:
                s.add(TelegramUpdate(update_id=update_id, payload=json.dumps(payload)))
            return "new"
        except IntegrityError:
            pass
        with transaction(self.url) as s:
            taken = s.execute(update(TelegramUpdate)
                              .where(TelegramUpdate.update_id == update_id, TelegramUpdate.status == "received",
                                     TelegramUpdate.received_at <= utcnow() - TAKE_OVER_AFTER)
                              .values(received_at=utcnow(), payload=json.dumps(payload))).rowcount
            if taken:
                return "taken_over"
            status = s.scalar(select(TelegramUpdate.status).where(TelegramUpdate.update_id == update_id))
        return "busy" if status == "received" else "duplicate"

    def finish(self, update_id: int, status: str = "done") -> None:
        with transaction(self.url) as s:
            # The payload holds the patient's text and name: kept only until it is processed.
            s.execute(update(TelegramUpdate).where(TelegramUpdate.update_id == update_id)
                      .values(status=status, processed_at=utcnow(), payload="{}"))

    def unfinished(self, older_than: dt.timedelta = STALE_AFTER) -> List[Tuple[int, dict]]:
        """Updates received but never finished (the process died while handling them)."""
        with transaction(self.url) as s:
            rows = s.execute(select(TelegramUpdate.update_id, TelegramUpdate.payload)
                             .where(TelegramUpdate.status == "received",
                                    TelegramUpdate.received_at <= utcnow() - older_than)
                             .order_by(TelegramUpdate.update_id)).all()
        return [(uid, json.loads(payload)) for uid, payload in rows]
