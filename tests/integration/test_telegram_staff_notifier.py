"""The Telegram staff-chat notifier against the stand-in Bot API on loopback."""
import asyncio

import pytest

from bot.notify.base import NotifierError
from bot.notify.telegram_staff import TelegramStaffNotifier
from tests.fakes.telegram_api import FakeTelegramAPI

TOKEN = "123456:TEST-token"


def test_notification_reaches_the_staff_chat_without_patient_text():
    api = FakeTelegramAPI(TOKEN)
    try:
        notifier = TelegramStaffNotifier(TOKEN, "-100200300", base_url=api.base_url)
        asyncio.run(notifier.send({"event": "new", "escalation_id": 7, "level": "urgent",
                                   "reason": "symptoms", "channel": "web"}))
        [msg] = api.sent()
        assert msg["chat_id"] == "-100200300"
        assert "#7" in msg["text"] and "URGENT" in msg["text"]
    finally:
        api.close()


def test_a_wrong_token_is_a_delivery_failure_to_retry():
    api = FakeTelegramAPI(TOKEN)
    try:
        notifier = TelegramStaffNotifier("999:WRONG", "-1", base_url=api.base_url)
        with pytest.raises(NotifierError):
            asyncio.run(notifier.send({"event": "new", "escalation_id": 1, "level": "urgent"}))
    finally:
        api.close()


def test_missing_configuration_is_one_clear_error():
    with pytest.raises(ValueError, match="STAFF_TELEGRAM_TOKEN"):
        TelegramStaffNotifier("", "")
