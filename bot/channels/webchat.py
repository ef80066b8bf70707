"""The web chat channel: socket.io, with sessions issued by the server.

Rasa's socket.io channel takes the session id from the browser as-is, so any page could
write into (and read replies of) any conversation whose id it guesses. Here the server issues
the conversation id, bound to a signed token (itsdangerous, WEBCHAT_SECRET) that the page
keeps; a socket may only join the conversation its token names. Messages are text only: the
widget renders them with textContent, never as HTML.

Routes (on the Rasa server): GET /webhooks/webchat/ (a demo clinic page with the widget),
GET /webhooks/webchat/static/<file>, POST /webhooks/webchat/session, socket.io at /socket.io.

A token whose conversation the patient deleted ("delete my data") is revoked: /session issues
a new conversation, a new socket is refused, and an open socket is sent `session_ended` (with
the message it refused, for the page to send again in the new conversation).
"""
from __future__ import annotations

import asyncio
import logging
import os
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from itsdangerous import BadSignature, URLSafeTimedSerializer
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOOutput
from sanic import response
from sanic.request import Request
from socketio import AsyncServer

from bot.config import paths
from bot.channels.commands import neutralise
from bot.channels.delivery import deliver
from bot.channels.rate_limit import history_limiter
from bot.privacy.deletion import deleted_at_patient_request
from bot.resilience import replay
from bot.resilience.tracker_spool import TRACKERS
from bot.resilience.spool import Spool
from bot.config.secrets import get_secret
from bot.config.settings import Settings
from bot.storage.rasa_events import message_events

logger = logging.getLogger(__name__)
STATIC_DIR = paths.ROOT / "web" / "static"
SESSION_MAX_AGE = 30 * 24 * 3600
MAX_MESSAGE_CHARS = 4000
BOT_EVENT = "bot_uttered"
ENDED_EVENT = "session_ended"


class WebChatSessions:
    """Issue and check the signed tokens that bind a browser to its conversation."""

    def __init__(self, secret: str):
        self._signer = URLSafeTimedSerializer(secret, salt="clinic-webchat-session")

    def issue(self) -> tuple:
        conversation = f"web-{uuid.uuid4().hex}"
        return conversation, self._signer.dumps(conversation)

    def conversation_of(self, token: Optional[str]) -> Optional[str]:
        if not token or not isinstance(token, str) or len(token) > 512:
            return None
        try:
            return self._signer.loads(token, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None


def transcript(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """What the patient saw, for re-rendering after a reload: texts only, buttons of the
    last bot message only (older choices are no longer actionable)."""
    items: List[Dict[str, Any]] = []
    for e in events:
        if e.get("event") == "user" and e.get("text"):
            items.append({"from": "user", "text": e["text"]})
        elif e.get("event") == "bot" and e.get("text"):
            buttons = ((e.get("data") or {}).get("buttons")) or []
            items.append({"from": "bot", "text": e["text"],
                          "quick_replies": [{"title": b.get("title"), "payload": b.get("payload")} for b in buttons]})
    for item in items[:-1]:
        item.pop("quick_replies", None)
    return items


class WebChatInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WebChatInput":
        credentials = credentials or {}
        origins = os.environ.get("WEBCHAT_ALLOWED_ORIGINS") or credentials.get("allowed_origins") or ""
        return cls([o.strip() for o in str(origins).split(",") if o.strip()])

    def __init__(self, allowed_origins: Optional[List[str]] = None):
        self.sessions = WebChatSessions(get_secret("WEBCHAT_SECRET"))
        self.allowed_origins = allowed_origins or []
        self.sio: Optional[AsyncServer] = None
        self.app = None
        self.database_url = Settings.from_env().database_url  # the tracker store's database too
        self._deleted: set = set()  # conversations known deleted (a deletion is never undone)

    async def revoked(self, conversation: str) -> bool:
        """Deleted at the patient's request. One indexed query, off the event loop; when the
        database does not answer, the turn fails closed anyway and the token still works."""
        if conversation in self._deleted:
            return True
        try:
            deleted = await asyncio.get_running_loop().run_in_executor(
                None, deleted_at_patient_request, self.database_url, conversation)
        except Exception:  # noqa: BLE001 - database unavailable: not known to be deleted
            logger.warning("web chat: could not check whether a conversation was deleted")
            return False
        if deleted:
            self._deleted.add(conversation)
        return deleted

    def get_output_channel(self) -> Optional[SocketIOOutput]:
        return SocketIOOutput(self.sio, BOT_EVENT) if self.sio else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]):
        # Without a list, only same-origin pages may connect. With a list, only the listed
        # origins may (include the assistant's own public origin if its page is used too).
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=self.allowed_origins or None)
        self.sio = sio
        bp = SocketBlueprint(sio, "/socket.io", "webchat", url_prefix="/webhooks/webchat")
        # Replies to a message replayed after an outage reach the conversation's open sockets.
        replay.register_output(self.name(), lambda _sender: SocketIOOutput(sio, BOT_EVENT))

        @bp.listener("after_server_start")
        async def keep_app(app, loop):  # noqa: ANN001
            self.app = app

        @bp.route("/", methods=["GET"])
        async def page(_: Request):
            return await response.file(STATIC_DIR / "index.html")

        @bp.route("/static/<name:path>", methods=["GET"])
        async def static(_: Request, name: str):
            target = (STATIC_DIR / name).resolve()
            if STATIC_DIR.resolve() not in target.parents or not target.is_file():
                return response.json({"error": "not found"}, status=404)
            return await response.file(target)

        @bp.route("/session", methods=["POST"])
        async def session(request: Request):
            try:
                body = request.json or {}
            except Exception:  # noqa: BLE001 - malformed JSON
                return response.json({"error": "expected JSON"}, status=400)
            if not isinstance(body, dict):
                return response.json({"error": "expected a JSON object"}, status=400)
            token = body.get("token")
            conversation = self.sessions.conversation_of(token)
            if conversation and not await self.revoked(conversation):
                return response.json({"token": token, "resumed": True})
            _, token = self.sessions.issue()
            return response.json({"token": token, "resumed": False})

        @sio.on("connect")
        async def connect(sid: str, environ: Dict, auth: Optional[Dict] = None) -> bool:
            conversation = self.sessions.conversation_of((auth or {}).get("token"))
            if conversation is None or await self.revoked(conversation):
                return False  # refuse: no valid, server-issued session, or a deleted one
            await sio.save_session(sid, {"conversation": conversation})
            await sio.enter_room(sid, conversation)
            return True

        @sio.on("history_request")
        async def history(sid: str, _data: Any = None) -> None:
            conversation = (await sio.get_session(sid)).get("conversation")
            if not conversation:
                return
            if await self.revoked(conversation):
                await sio.emit(ENDED_EVENT, {}, room=sid)
                return
            allowed = history_limiter().check(conversation)
            if allowed != "ok":
                if allowed == "tell":  # once per flood; the page keeps what it shows
                    await sio.emit("history", {"unavailable": True, "reason": "rate_limited"}, room=sid)
                return
            # A tracker spooled in an outage is not in the database yet: the page keeps what
            # it shows rather than get an older history.
            if Spool(TRACKERS).has(conversation):
                await sio.emit("history", {"unavailable": True}, room=sid)
                return
            # Read off the event loop: a long conversation must not hold up other patients.
            try:
                events = await asyncio.get_running_loop().run_in_executor(
                    None, message_events, self.database_url, conversation)
            except Exception:  # noqa: BLE001 - database unavailable: new messages still fail closed
                await sio.emit("history", {"unavailable": True}, room=sid)
                return
            await sio.emit("history", {"messages": transcript(events)}, room=sid)

        @sio.on("user_uttered")
        async def user_uttered(sid: str, data: Any) -> None:
            conversation = (await sio.get_session(sid)).get("conversation")
            text = data.get("message") if isinstance(data, dict) else None
            if not conversation or not isinstance(text, str):
                return
            if await self.revoked(conversation):
                await sio.emit(ENDED_EVENT, {"message": text}, room=sid)
                await sio.disconnect(sid)
                return
            text = neutralise(text)[:MAX_MESSAGE_CHARS]
            await deliver(self.app, UserMessage(text, SocketIOOutput(sio, BOT_EVENT), conversation,
                                                input_channel=self.name()), on_new_message)

        return bp
