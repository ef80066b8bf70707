"""Sending to Telegram: plain text (no parse mode, so nothing needs escaping), split at
Telegram's 4096-character limit, buttons as inline keyboards."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.core.channels.channel import OutputChannel

TELEGRAM_LIMIT = 4096
CALLBACK_LIMIT = 64  # bytes of callback_data Telegram accepts


def split_text(text: str, limit: int = TELEGRAM_LIMIT) -> List[str]:
    """Split at paragraph, then line, then word boundaries; never mid-word unless a single
    word is longer than the limit."""
    text = (text or "").strip()
    parts: List[str] = []
    while len(text) > limit:
        cut = max(text.rfind("\n\n", 0, limit), text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        if cut <= 0:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


class TelegramOutput(OutputChannel):
    def __init__(self, bot):
        self.bot = bot

    @classmethod
    def name(cls) -> Text:
        return "telegram"

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        for part in split_text(text):
            await self.bot.send_message(chat_id=recipient_id, text=part)

    async def send_text_with_buttons(self, recipient_id: Text, text: Text,
                                     buttons: List[Dict[Text, Any]], **kwargs: Any) -> None:
        from telegram import InlineKeyboardButton, InlineKeyboardMarkup

        keyboard = InlineKeyboardMarkup([
            [InlineKeyboardButton(b["title"][:64], callback_data=_callback_data(b["payload"]))]
            for b in buttons if b.get("title") and b.get("payload")
        ])
        parts = split_text(text) or [" "]
        for part in parts[:-1]:
            await self.bot.send_message(chat_id=recipient_id, text=part)
        await self.bot.send_message(chat_id=recipient_id, text=parts[-1], reply_markup=keyboard)

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self.bot.send_message(chat_id=recipient_id, text=image)

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        return None  # our actions send no custom payloads; never forward unknown JSON to patients


def _callback_data(payload: str) -> str:
    data = payload.encode("utf-8")[:CALLBACK_LIMIT]
    return data.decode("utf-8", errors="ignore")
