"""Console edges found in the second security read: what a failed sign-in records, bodies
refused before they are read, and patient text on list pages leaving an audit entry."""
import socket

from sqlalchemy import select

from bot.storage.db import transaction
from bot.storage.models import AuditEntry
from tests.console.conftest import STAFF, client, csrf_from, sign_in


def _audit(console):
    with transaction(console.url) as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_failed_sign_in_with_an_unknown_name_does_not_record_what_was_typed(console):
    c = client(console)
    token = csrf_from(c.get("/login").text)
    # People type their password into the user name field: it must not land in the audit log.
    typed = "Hunter2-my-Secret-pass"
    resp = c.post("/login", data={"csrf": token, "username": typed, "password": "whatever-it-is"})
    assert resp.status_code == 401
    # A real account's failed sign-in still names the account (staff need to see attacks on it).
    resp = c.post("/login", data={"csrf": token, "username": STAFF, "password": "not-the-password"})
    assert resp.status_code == 401
    failed = [e for e in _audit(console) if e.action == "login_failed"]
    assert failed, "failed sign-ins are audited"
    assert not any(typed.lower() in f"{e.actor} {e.target} {e.detail}".lower() for e in failed)
    assert any(e.actor == STAFF for e in failed)


def _chunked_post(console, path: str, chunk: bytes, max_bytes: int):
    """Send a chunked body until the server answers or `max_bytes` are sent; returns
    (bytes sent when the answer came, the status line)."""
    host, port = console.base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n".encode())
    sent = 0
    sock.setblocking(False)
    answer = b""
    try:
        while sent < max_bytes:
            try:
                answer += sock.recv(65536)
            except BlockingIOError:
                pass
            if answer:
                break
            try:
                sock.setblocking(True)
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
                sock.setblocking(False)
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.setblocking(True)
        if not answer:
            if sent >= max_bytes:
                try:
                    sock.sendall(b"0\r\n\r\n")
                except OSError:
                    pass
            answer = sock.recv(65536)
    finally:
        sock.close()
    return sent, answer.split(b"\r\n", 1)[0].decode()


def test_a_chunked_form_is_refused_without_reading_it_whole(console):
    # 64 KiB is the limit; the server must answer 413 long before 32 MiB have gone in. The
    # answer is waited for after each chunk, so this holds however slow the machine is.
    sent, status = _chunked_post(console, "/login", b"a" * 65536, max_bytes=32 * 1024 * 1024)
    assert "413" in status, status
    assert sent < 32 * 1024 * 1024, "the whole body was read before it was refused"


def test_queue_and_curation_pages_leave_an_audit_entry(console):
    c = sign_in(console, STAFF)
    before = len(_audit(console))
    assert c.get("/").status_code == 200
    assert c.get("/curation").status_code == 200
    viewed = [(e.actor, e.action) for e in _audit(console)[before:]]
    assert (STAFF, "viewed_queue") in viewed and (STAFF, "viewed_curation") in viewed
