"""A real HTTP hop in front of the action server that a test can take down or slow down.

"up": requests are forwarded; "slow": held for `delay` seconds first; "down": the listening
socket is closed, so connections are refused exactly as when the process is not running.
"""
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultProxy:
    def __init__(self, port: int, upstream: str):
        self.port, self.upstream = port, upstream.rstrip("/")
        self.delay = 0.0
        self.calls = 0
        self._server = None
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                proxy.calls += 1
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.delay:
                    time.sleep(proxy.delay)
                # Forwarded as the Rasa server sent them (the action server checks X-Action-Token).
                hop = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}
                req = urllib.request.Request(proxy.upstream + self.path, data=body, method="POST",
                                             headers={k: v for k, v in self.headers.items() if k.lower() not in hop})
                try:
                    with urllib.request.urlopen(req, timeout=60) as resp:
                        status, data = resp.status, resp.read()
                except urllib.error.HTTPError as err:
                    status, data = err.code, err.read()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the caller gave up waiting

            def log_message(self, *args):
                pass

        return Handler

    def up(self, delay: float = 0.0):
        self.delay = delay
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
            self._server.daemon_threads = True
            threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def slow(self, delay: float):
        self.up(delay)

    def down(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self):
        self.down()
