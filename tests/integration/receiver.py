"""A real HTTP webhook receiver on loopback for the notifier tests."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bot.notify.webhook import signature


class Receiver:
    def __init__(self, secret: str, status: int = 200, port: int = 0):
        self.secret, self.status, self.received, self.bad_signatures = secret, status, [], 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("X-Clinic-Signature") != signature(receiver.secret, body):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                elif receiver.status < 300:
                    receiver.received.append(json.loads(body))
                    self.send_response(receiver.status)
                else:
                    self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
