"""A stand-in for Telegram's Bot API servers on loopback (the one fake the project allows,
because the internet is not reachable). It speaks real HTTP: python-telegram-bot talks to it
through `base_url`, and every call is recorded for the tests to inspect."""
from __future__ import annotations

import cgi
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Tuple
from urllib.parse import parse_qs, unquote

BOT_USER = {"id": 1000, "is_bot": True, "first_name": "Clinic", "username": "clinic_test_bot"}


class FakeTelegramAPI:
    def __init__(self, token: str):
        self.token = token
        self.calls: List[Tuple[str, Dict[str, Any]]] = []
        self.updates: List[dict] = []
        self.files: Dict[str, bytes] = {}
        self.webhook: Dict[str, Any] = {}
        self._message_id = 100
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: dict, raw: bytes = b"") -> None:
                data = raw or json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if not raw else "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 - file downloads
                prefix = f"/file/bot{api.token}/"
                path = unquote(self.path)
                if path.startswith(prefix) and path[len(prefix):] in api.files:
                    return self._reply(200, {}, api.files[path[len(prefix):]])
                self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})

            def do_POST(self):  # noqa: N802
                prefix = f"/bot{api.token}/"
                if not self.path.startswith(prefix):
                    return self._reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                method = self.path[len(prefix):]
                params = api._params(self)
                api.calls.append((method, params))
                self._reply(200, {"ok": True, "result": api._result(method, params)})

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/bot"
        self.base_file_url = f"http://127.0.0.1:{self.server.server_port}/file/bot"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def _params(handler: BaseHTTPRequestHandler) -> Dict[str, Any]:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        ctype = handler.headers.get("Content-Type", "")
        if ctype.startswith("application/json"):
            return json.loads(body or b"{}")
        if ctype.startswith("multipart/form-data"):
            form = cgi.FieldStorage(fp=io.BytesIO(body), headers=handler.headers,
                                    environ={"REQUEST_METHOD": "POST", "CONTENT_TYPE": ctype})
            return {k: form.getvalue(k) for k in form.keys()}
        fields = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        for key in ("reply_markup", "allowed_updates"):
            if key in fields:
                fields[key] = json.loads(fields[key])
        return fields

    def _result(self, method: str, params: Dict[str, Any]):
        if method == "getMe":
            return BOT_USER
        if method in ("sendMessage", "editMessageText"):
            self._message_id += 1
            return {"message_id": self._message_id, "date": int(time.time()), "text": params.get("text", ""),
                    "chat": {"id": int(params.get("chat_id", 0)), "type": "private"}, "from": BOT_USER}
        if method == "getUpdates":
            updates, self.updates = self.updates, []
            return updates
        if method == "getFile":
            file_id = params.get("file_id")
            return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(self.files.get(file_id, b"")),
                    "file_path": file_id}
        if method == "getWebhookInfo":
            return {"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0}
        if method == "setWebhook":
            self.webhook = dict(params)
        return True

    def sent(self, method: str = "sendMessage") -> List[Dict[str, Any]]:
        return [p for m, p in self.calls if m == method]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
