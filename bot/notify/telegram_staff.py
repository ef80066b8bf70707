"""A Telegram staff chat (python-telegram-bot): one short message per notification."""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

from bot.notify.base import NotifierError, summary

# httpx logs every request URL at INFO, and Bot API URLs contain the bot token.
logging.getLogger("httpx").setLevel(logging.WARNING)


class TelegramStaffNotifier:
    name = "telegram"

    def __init__(self, token: str, chat_id: str, base_url: Optional[str] = None):
        if not token or not chat_id:
            raise ValueError("the telegram notifier needs STAFF_TELEGRAM_TOKEN and STAFF_TELEGRAM_CHAT_ID")
        self.token, self.chat_id, self.base_url = token, chat_id, base_url

    async def send(self, payload: Dict[str, Any]) -> None:
        from telegram import Bot
        from telegram.error import TelegramError

        kwargs = {"base_url": self.base_url} if self.base_url else {}
        try:
            async with Bot(self.token, **kwargs) as bot:
                await bot.send_message(chat_id=self.chat_id, text=summary(payload))
        except TelegramError as exc:
            raise NotifierError(f"telegram: {type(exc).__name__}") from exc
