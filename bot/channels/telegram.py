"""Our Telegram input channel (replaces Rasa's aiogram one), on python-telegram-bot 22.

Webhook: POST /webhooks/telegram/webhook. An update whose X-Telegram-Bot-Api-Secret-Token
header does not match (constant-time comparison) gets 403 and never reaches the assistant.
Each update is recorded (update_id) before the 200, processed once, and an update whose
processing was interrupted is processed at the next start. `python -m
bot.channels.telegram_polling` (make telegram) fetches updates without a public address and
hands them to this same webhook, so both modes share all handling.

Deliberate choices: text starting with "/" is a command (/start, /help, /human) or is read
as plain words, never as a Rasa intent; group chats get one "message me privately" reply and
nothing is processed there; an edited message is read as a new message (a symptom added by an
edit must still be triaged); stickers, voice and other media get "I can only read text"; a
photo is kept with the sender's open escalation for staff, otherwise it gets that reply.

Photos are limited like messages, in a bucket of their own per sender (RATE_LIMIT_BURST at
once, refilled at RATE_LIMIT_PER_MINUTE; an album of up to 10 arrives as one update per photo
and must not use up the sender's messages), and MAX_PHOTOS_PER_ESCALATION (default 10) are
kept per escalation. Over either limit the patient is told once, with the clinic's number, and
the photo is not downloaded. Database work runs in a thread, never on the event loop that
serves every other conversation.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
from functools import lru_cache
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sqlalchemy.exc import SQLAlchemyError

from bot.config import paths
from bot.channels.commands import fixed_parse, neutralise
from bot.channels.delivery import deliver
from bot.channels.rate_limit import SenderRateLimiter, limiter
from bot.channels.telegram_output import TelegramOutput
from bot.channels.telegram_updates import UpdateLog
from bot.replies import replies
from bot.resilience import replay
from bot.config.settings import Settings

logger = logging.getLogger(__name__)
# httpx logs every request URL at INFO, and Bot API URLs contain the bot token.
logging.getLogger("httpx").setLevel(logging.WARNING)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# A hash of the webhook URL and secret last registered with Telegram (no secret in it).
WEBHOOK_STATE = paths.ROOT / "var" / "telegram-webhook.sha256"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
MAX_TEXT_CHARS = 4096  # Telegram's own limit for a message; only a forged update is longer
MAX_UPDATE_ID = 2**63 - 1  # telegram_updates.update_id is a BIGINT


def valid_update(body: Optional[bytes]) -> Optional[Dict[str, Any]]:
    """The update in `body` if it is one Telegram could have sent, else None (answered 400).

    Checked before the update is recorded, because a recorded update that cannot be handled
    fails again at every start. Found by the fuzz tests (tests/e2e/test_fuzz_http.py): a huge
    or non-integer update_id (1e400, 10**30, 1.5, "12", true) was a 500 or silently became
    another id, and updates of the wrong shape (a message without a date, text that is a
    number, a chat id that is a string) were recorded and crashed in handling. python-telegram-
    bot does not check the types of the fields it reads, so the fields we use are checked here.
    """
    from telegram import Update

    try:
        data = json.loads(body or b"")
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(data, dict):
        return None
    update_id = data.get("update_id")
    if type(update_id) is not int or not 0 <= update_id <= MAX_UPDATE_ID:  # bool is an int subclass
        return None
    try:
        update = Update.de_json(json.loads(json.dumps(data)), None)  # de_json may modify its input
    except Exception:  # noqa: BLE001 - any failure to read it means it is not an update
        return None
    return data if _fields_we_read_are_well_typed(update) else None


def _names_a_symptom(text: str) -> bool:
    from bot.triage.tokenizer import shared_engine

    return shared_engine().assess(text).level != "none"


def _fields_we_read_are_well_typed(update) -> bool:
    def chat_ok(chat) -> bool:
        return chat is not None and type(chat.id) is int and isinstance(chat.type, str)

    def text_ok(value) -> bool:
        return value is None or isinstance(value, str)

    query = update.callback_query
    if query is not None:
        if not isinstance(query.id, str) or not text_ok(query.data):
            return False
        if query.message is not None and not chat_ok(getattr(query.message, "chat", None)):
            return False
    message = update.message or update.edited_message
    if message is not None:
        if not chat_ok(message.chat) or not text_ok(message.text) or not text_ok(message.caption):
            return False
        for photo in message.photo or ():
            if not isinstance(photo.file_id, str) or not (photo.file_size is None or type(photo.file_size) is int):
                return False
    return True


def _photo_room(url: str, conversation: str, cap: int):
    """(the open escalation's id, "ok" | "tell" | "drop"), or (None, None) without one."""
    from bot.escalation.store import EscalationStore, photo_room

    esc = EscalationStore(url).open_for(conversation)
    if esc is None:
        return None, None
    return esc.id, photo_room(url, esc.id, cap)


@lru_cache(maxsize=1)
def _template_values() -> Dict[str, Any]:
    from bot.config.clinic import load_clinic, reply_values

    return reply_values(load_clinic())


class TelegramInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "TelegramInput":
        credentials = credentials or {}
        env = os.environ
        return cls(token=env.get("TELEGRAM_BOT_TOKEN") or credentials.get("access_token") or "",
                   secret=env.get("TELEGRAM_WEBHOOK_SECRET") or credentials.get("secret_token") or "",
                   webhook_url=env.get("TELEGRAM_WEBHOOK_URL") or credentials.get("webhook_url") or "",
                   base_url=env.get("TELEGRAM_API_BASE_URL") or credentials.get("base_url") or None,
                   base_file_url=env.get("TELEGRAM_API_BASE_FILE_URL") or None)

    def __init__(self, token: str, secret: str, webhook_url: str = "", base_url: Optional[str] = None,
                 base_file_url: Optional[str] = None):
        from bot.escalation.store import DEFAULT_MAX_PHOTOS, max_photos

        self.token, self.secret, self.webhook_url = token, secret, webhook_url
        self.base_url, self.base_file_url = base_url, base_file_url
        self.problem = None
        self.max_photos = DEFAULT_MAX_PHOTOS
        # Photos per sender, at the message limit's settings (bot/channels/rate_limit.py); set
        # below, as a channel with a problem handles nothing.
        self.photo_limiter: Optional[SenderRateLimiter] = None
        # One clear start-up error; the rest of the assistant (web chat) keeps running.
        if not token or not secret:
            self.problem = ("Telegram channel disabled: set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET "
                            "(see docs/channels.md 'Connecting a Telegram bot')")
        else:
            try:
                self.max_photos = max_photos()
                messages = limiter()
                self.photo_limiter = SenderRateLimiter(messages.rate * 60.0, messages.burst)
            except ValueError as exc:  # SettingsError included
                self.problem = f"Telegram channel disabled: {exc}"
        if self.problem:
            logger.error(self.problem)
        self._bot = None
        self.app = None
        self.updates = UpdateLog(Settings.from_env().database_url)

    @property
    def bot(self):
        if self._bot is None:
            from telegram import Bot

            kwargs = {}
            if self.base_url:
                kwargs["base_url"] = self.base_url
            if self.base_file_url:
                kwargs["base_file_url"] = self.base_file_url
            self._bot = Bot(self.token, **kwargs)
        return self._bot

    def get_output_channel(self) -> Optional[TelegramOutput]:
        return None if self.problem else TelegramOutput(self.bot)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("telegram_webhook", url_prefix="/webhooks/telegram")

        @bp.route("/", methods=["GET"])
        async def health(_: Request):
            return response.json({"status": "disabled" if self.problem else "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request):
            if self.problem:
                return response.json({"error": self.problem}, status=503)
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), self.secret.encode()):
                logger.warning("telegram webhook: update with a wrong secret token refused")
                return response.json({"error": "forbidden"}, status=403)
            data = valid_update(request.body)
            if data is None:
                return response.json({"error": "expected a Telegram update (JSON with update_id)"}, status=400)
            update_id = data["update_id"]
            try:
                seen = await asyncio.to_thread(self.updates.record, update_id, data)
                if seen == "duplicate":
                    return response.json({"status": "duplicate"})
                if seen == "busy":
                    # Being handled by another delivery right now; if that one dies, the next
                    # delivery takes it over. Not 200, so that Telegram delivers it again.
                    return response.json({"status": "busy"}, status=503)
                logged = True
            except SQLAlchemyError:
                # Database down: the message path answers fail-closed and spools the message
                # for replay, so the update is still handled (once) rather than refused.
                logger.error("telegram update %s: update log unavailable; handling it anyway", update_id)
                logged = False
            status = "done"
            try:
                await self.handle(data, on_new_message)
            except Exception:  # noqa: BLE001 - recorded; Telegram must not redeliver forever
                logger.exception("telegram update %s failed", update_id)
                status = "failed"
            if logged:
                try:
                    await asyncio.to_thread(self.updates.finish, update_id, status)
                except SQLAlchemyError:
                    logger.error("telegram update %s: could not mark it finished", update_id)
            return response.json({"status": status})

        @bp.listener("after_server_start")
        async def start(app, loop):  # noqa: ANN001
            self.app = app
            if self.problem:
                return
            replay.register_output(self.name(), lambda _sender: TelegramOutput(self.bot))
            for update_id, data in await asyncio.to_thread(self.updates.unfinished):
                logger.info("telegram update %s was interrupted; processing it again", update_id)
                try:
                    await self.handle(data, on_new_message)
                    await asyncio.to_thread(self.updates.finish, update_id)
                except Exception:  # noqa: BLE001
                    logger.exception("telegram update %s failed again", update_id)
                    await asyncio.to_thread(self.updates.finish, update_id, "failed")
            await self._ensure_webhook()

        return bp

    async def _ensure_webhook(self) -> None:
        """Point Telegram at our webhook, with the secret, only when it is not already so
        (Rasa's channel called setWebhook at every start). Telegram never tells us the secret
        it holds, so a fingerprint of the URL and secret last registered is kept: a rotated
        secret is registered at the next start instead of every update being refused."""
        if not self.webhook_url:
            return
        fingerprint = hashlib.sha256(f"{self.webhook_url}\n{self.secret}".encode()).hexdigest()
        try:
            info = await self.bot.get_webhook_info()
            stored = WEBHOOK_STATE.read_text().strip() if WEBHOOK_STATE.exists() else ""
            if info.url != self.webhook_url or stored != fingerprint:
                await self.bot.set_webhook(self.webhook_url, secret_token=self.secret,
                                           allowed_updates=ALLOWED_UPDATES)
                WEBHOOK_STATE.parent.mkdir(parents=True, exist_ok=True)
                WEBHOOK_STATE.write_text(fingerprint + "\n")
                logger.info("telegram webhook set")
        except Exception:  # noqa: BLE001 - the channel still answers what reaches it
            logger.exception("could not set the telegram webhook")

    async def handle(self, data: Dict[str, Any], on_new_message) -> None:
        from telegram import Update

        update = Update.de_json(data, self.bot)
        out = TelegramOutput(self.bot)
        say = lambda key: replies()(key, **_template_values())  # noqa: E731

        if update.callback_query:
            query = update.callback_query
            try:
                await query.answer()  # only stops the button's spinner; the choice still counts
            except Exception:  # noqa: BLE001
                logger.warning("telegram: could not answer callback query of update %s", update.update_id)
            chat = query.message.chat if query.message else None
            if chat is None or chat.type != "private":
                return
            await self._to_rasa(on_new_message, neutralise(query.data), chat.id, out, update.update_id)
            return

        message = update.message or update.edited_message
        if message is None:
            return
        chat_id = message.chat.id
        if message.chat.type != "private":
            if update.message is not None:
                await self.bot.send_message(chat_id=chat_id, text=say("telegram_private_only"))
            return
        if message.text is not None:
            text = message.text
            words = text.strip().split()
            if text.lstrip().startswith("/") and len(words) == 1:
                command = words[0][1:].split("@")[0].lower()
                if command == "start":
                    return await self._to_rasa(on_new_message, "/start", chat_id, out, update.update_id,
                                               parse=fixed_parse("greet", "/start"))
                if command == "help":
                    return await out.send_text_message(str(chat_id), say("telegram_help"))
                if command == "human":
                    return await self._to_rasa(on_new_message, "/human", chat_id, out, update.update_id,
                                               parse=fixed_parse("ask_human", "/human"))
                if _names_a_symptom(neutralise(text)):
                    # "/bleeding": not a command we know, but a warning sign must be triaged.
                    return await self._to_rasa(on_new_message, neutralise(text), chat_id, out, update.update_id)
                return await out.send_text_message(str(chat_id), say("telegram_unknown_command"))
            # "/help my scalp is bleeding": words after a slash are read as words, and triaged.
            await self._to_rasa(on_new_message, neutralise(text), chat_id, out, update.update_id)
            return
        if message.caption:
            # A caption can carry a warning sign ("bleeding since the procedure"): triaged
            # first, so the escalation it opens is there for the photo to be kept with.
            await self._to_rasa(on_new_message, neutralise(message.caption), chat_id, out, update.update_id)
        if message.photo:
            if update.message is not None:  # an edited caption re-sends the same photo: kept once
                try:
                    await self._photo(message, out, say)
                except Exception:  # noqa: BLE001
                    logger.exception("telegram: could not keep a photo of update %s", update.update_id)
            return
        if message.caption:
            return
        await out.send_text_message(str(chat_id), say("telegram_text_only"))

    async def _to_rasa(self, on_new_message, text: str, chat_id: int, out: TelegramOutput,
                       update_id: int, parse: Optional[Dict[str, Any]] = None) -> None:
        try:
            await self.bot.send_chat_action(chat_id=chat_id, action="typing")
        except Exception:  # noqa: BLE001 - the typing hint is a nicety
            pass
        text = text[:MAX_TEXT_CHARS]
        await deliver(self.app, UserMessage(text, out, str(chat_id), input_channel=self.name(),
                                            parse_data=parse, metadata={"telegram_update_id": update_id}),
                      on_new_message)

    async def _photo(self, message, out: TelegramOutput, say) -> None:
        from telegram.error import TelegramError

        from bot.escalation.store import MAX_ATTACHMENT_BYTES, add_attachment

        conversation = str(message.chat.id)
        allowed = self.photo_limiter.check(conversation)
        if allowed != "ok":
            logger.warning("rate limit: photo from conversation %s not kept", conversation)
            if allowed == "tell":
                await out.send_text_message(conversation, say("telegram_photos_too_fast"))
            return
        url = Settings.from_env().database_url
        escalation_id, room = await asyncio.to_thread(_photo_room, url, conversation, self.max_photos)
        if escalation_id is None:
            return await out.send_text_message(conversation, say("telegram_text_only"))
        if room != "ok":
            return await self._photos_refused(room, escalation_id, conversation, out, say)
        photo = message.photo[-1]  # the largest size Telegram offers
        if photo.file_size and photo.file_size > MAX_ATTACHMENT_BYTES:
            return await out.send_text_message(conversation, say("telegram_photo_too_big"))
        try:
            file = await self.bot.get_file(photo.file_id)
            data = bytes(await file.download_as_bytearray())
        except TelegramError as exc:  # Telegram's side: say so, so the patient can send it again
            logger.warning("telegram: photo of chat %s could not be downloaded (%s)", conversation,
                           type(exc).__name__)
            return await out.send_text_message(conversation, say("telegram_photo_failed"))
        if len(data) > MAX_ATTACHMENT_BYTES:
            return await out.send_text_message(conversation, say("telegram_photo_too_big"))
        # Checked again as it is written: photos sent together may have filled it meanwhile.
        kept = await asyncio.to_thread(add_attachment, url, escalation_id, "image/jpeg", data, self.max_photos)
        if kept.verdict != "ok":
            return await self._photos_refused(kept.verdict, escalation_id, conversation, out, say)
        await out.send_text_message(conversation, say("telegram_photo_saved"))

    async def _photos_refused(self, verdict: str, escalation_id: int, conversation: str, out: TelegramOutput,
                              say) -> None:
        if verdict == "tell":
            logger.info("telegram: escalation %s has its %s photos; more are not kept", escalation_id,
                        self.max_photos)
            await out.send_text_message(conversation, say("telegram_photo_limit"))
