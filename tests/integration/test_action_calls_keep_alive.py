"""Rasa's endpoint requests with kept connections (bot/rasa_ext/speed/hot_paths.py), against a real HTTP
server on loopback: what reaches the server is what Rasa's own request sends, errors are
Rasa's, connections are reused, and a restarted server or an idle connection costs no call."""
import asyncio
import json
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from bot.serve.processes import free_port
from bot.rasa_ext.speed import hot_paths

_rasa_request = EndpointConfig.request  # ours, installed by tests/conftest.py
assert _rasa_request is hot_paths._request, "bot.rasa_ext's speed changes are not installed"


class Server:
    """An aiohttp server that records, per request, the client's port and what it received."""

    def __init__(self, port, cookie=False):
        self.port, self.cookie, self.seen, self.runner = port, cookie, [], None

    async def handle(self, request):
        body = await request.read()
        self.seen.append({"peer": request.transport.get_extra_info("peername")[1], "path": request.path,
                          "query": dict(request.query), "headers": dict(request.headers),
                          "raw_headers": [k.decode() for k, _ in request.raw_headers],
                          "body": body})
        if request.path.endswith("/fail"):
            return web.Response(status=500, text="broken")
        if request.path.endswith("/text"):
            return web.Response(text="not json")
        reply = web.json_response({"ok": True, "echo": json.loads(body or b"null")})
        if self.cookie:  # as a proxy in front of the action server might
            reply.set_cookie("sid", json.loads(body)["sender"])
        return reply

    async def start(self):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, keepalive_timeout=5)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self):
        await self.runner.cleanup()


@asynccontextmanager
async def serving(port=None, cookie=False):
    server = Server(port or free_port(), cookie)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def run(coro):
    async def and_close():
        try:
            return await coro
        finally:
            await hot_paths.close_sessions()

    return asyncio.run(and_close())


def test_requests_carry_what_rasa_sends_and_reuse_one_connection():
    async def main():
        async with serving() as server:
            endpoint = EndpointConfig(f"http://127.0.0.1:{server.port}/webhook", headers={"X-Action-Token": "s3"},
                                      token="t0k", params={"a": "1"})
            replies = [await endpoint.request(json={"n": i}, method="post") for i in range(3)]
        return replies, server.seen

    replies, seen = run(main())
    assert replies == [{"ok": True, "echo": {"n": i}} for i in range(3)]
    assert {s["path"] for s in seen} == {"/webhook"}
    assert all(s["query"] == {"a": "1", "token": "t0k"} for s in seen)
    assert all(s["headers"]["X-Action-Token"] == "s3" and s["headers"]["Content-Type"] == "application/json"
               for s in seen)
    assert all(s["raw_headers"].count("X-Action-Token") == 1 and s["raw_headers"].count("Content-Type") == 1
               for s in seen)  # none sent twice (session defaults and the call's own)
    assert len({s["peer"] for s in seen}) == 1  # one connection for all three calls


def test_errors_and_non_json_answers_are_as_with_rasa():
    async def main():
        async with serving() as server:
            endpoint = EndpointConfig(f"http://127.0.0.1:{server.port}")
            with pytest.raises(ClientResponseError) as failed:
                await endpoint.request(subpath="fail", json={})
            text = await endpoint.request(subpath="text", method="get")
            after = await endpoint.request(json={"n": 1})  # the connection is still usable
        return failed.value, text, after

    failed, text, after = run(main())
    assert failed.status == 500 and failed.text == b"broken"
    assert text is None
    assert after["ok"] is True


def test_a_restarted_server_and_an_idle_connection_cost_no_call(monkeypatch):
    monkeypatch.setattr(hot_paths, "IDLE_CONNECTION_SECONDS", 0.3)

    async def main():
        port = free_port()
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
        async with serving(port):
            first = await endpoint.request(json={"n": 1})
        # the action server restarts
        async with serving(port) as server:
            second = await endpoint.request(json={"n": 2})
            await asyncio.sleep(0.6)  # longer than the client keeps an idle connection
            third = await endpoint.request(json={"n": 3})
        return first, second, third, server.seen

    first, second, third, seen = run(main())
    assert [r["echo"]["n"] for r in (first, second, third)] == [1, 2, 3]
    assert len({s["peer"] for s in seen}) == 2  # the idle connection was not reused


def test_kept_sessions_are_closed_with_their_loop():
    async def main():
        async with serving() as server:
            endpoint = EndpointConfig(f"http://127.0.0.1:{server.port}")
            await endpoint.request(json={})
            session = hot_paths._session_for(endpoint)
            await hot_paths.close_sessions()
            return session.closed, asyncio.get_running_loop() in hot_paths._sessions

    assert run(main()) == (True, False)


def test_no_cookie_is_carried_from_one_call_to_the_next():
    async def main():
        async with serving(cookie=True) as server:
            endpoint = EndpointConfig(f"http://localhost:{server.port}/webhook")
            await endpoint.request(json={"sender": "patient-A"})
            await endpoint.request(json={"sender": "patient-B"})
        return server.seen

    seen = run(main())
    assert len(seen) == 2 and "Cookie" not in seen[1]["headers"]
