"""`make telegram`: Telegram without a public address. Long-polls getUpdates and hands each
update to the running assistant's own webhook (with the secret), so polling and webhook
mode share every line of message handling.

    python -m bot.channels.telegram_polling [--webhook http://127.0.0.1:5005/webhooks/telegram/webhook]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

import httpx

from bot.config.logging_setup import configure_logging

logger = logging.getLogger("bot.telegram_polling")


async def poll(webhook: str, token: str, secret: str, base_url: str | None, once: bool = False) -> None:
    from telegram import Bot

    kwargs = {"base_url": base_url} if base_url else {}
    offset = None
    async with Bot(token, **kwargs) as bot, httpx.AsyncClient(timeout=60) as client:
        await bot.delete_webhook()  # Telegram refuses getUpdates while a webhook is set
        while True:
            updates = await bot.get_updates(offset=offset, timeout=0 if once else 30,
                                            allowed_updates=["message", "edited_message", "callback_query"])
            for update in updates:
                resp = await client.post(webhook, json=update.to_dict(),
                                         headers={"X-Telegram-Bot-Api-Secret-Token": secret})
                if resp.status_code >= 500:
                    raise RuntimeError(f"the assistant answered {resp.status_code}; is `make run` running?")
                offset = update.update_id + 1
            if once:
                return


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.channels.telegram_polling", description=__doc__)
    parser.add_argument("--webhook", default=f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}"
                                             "/webhooks/telegram/webhook")
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args(argv)
    configure_logging()
    token, secret = os.environ.get("TELEGRAM_BOT_TOKEN"), os.environ.get("TELEGRAM_WEBHOOK_SECRET")
    if not token or not secret:
        print("error: set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET", file=sys.stderr)
        return 2
    asyncio.run(poll(args.webhook, token, secret, os.environ.get("TELEGRAM_API_BASE_URL"), args.once))
    return 0


if __name__ == "__main__":
    sys.exit(main())
