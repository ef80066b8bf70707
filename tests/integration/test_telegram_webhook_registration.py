"""The webhook is registered with Telegram only when needed, and again when the secret is
rotated (Telegram never reveals the secret it holds, so without this a new secret would make
every update fail the secret check)."""
import asyncio

from bot.channels import telegram
from tests.fakes.telegram_api import FakeTelegramAPI

TOKEN = "424242:TEST-webhook-registration"


def test_a_rotated_secret_is_registered_at_the_next_start(tmp_path, monkeypatch, db_url):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setattr(telegram, "WEBHOOK_STATE", tmp_path / "telegram-webhook.sha256")
    api = FakeTelegramAPI(TOKEN)
    url = "https://assistant.clinic.example/webhooks/telegram/webhook"

    def start(secret):
        channel = telegram.TelegramInput(TOKEN, secret, url, base_url=api.base_url, base_file_url=api.base_file_url)
        asyncio.run(channel._ensure_webhook())
        return [p.get("secret_token") for p in api.sent("setWebhook")]

    try:
        assert start("first-secret-0123456789abcdef01234") == ["first-secret-0123456789abcdef01234"]
        assert start("first-secret-0123456789abcdef01234") == ["first-secret-0123456789abcdef01234"]  # no-op
        assert start("rotated-secret-0123456789abcdef012")[-1] == "rotated-secret-0123456789abcdef012"
        assert "rotated-secret" not in (tmp_path / "telegram-webhook.sha256").read_text()  # only a hash
    finally:
        api.close()
