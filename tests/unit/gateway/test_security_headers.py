"""The security headers' middleware: outside Starlette's 500 page, the Host header taken into the
policy only when it is a plain host[:port], WebSocket scopes untouched."""

from __future__ import annotations

import asyncio

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.websockets import WebSocket

from services.gateway.security_headers import GatewayApp, content_security_policy


def _app() -> GatewayApp:
    app = GatewayApp()

    async def broken(_request: Request) -> Response:
        raise RuntimeError("boom")

    async def fine(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    app.router.add_route("/broken", broken)
    app.router.add_route("/fine", fine)
    app.router.add_websocket_route("/ws", echo)
    return app


def _get(path: str, host: str = "console.example:8443") -> httpx.Response:
    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
            return await c.get(path, headers={"Host": host})

    return asyncio.run(get())


def test_an_unhandled_error_still_carries_the_headers() -> None:
    r = _get("/broken")
    assert r.status_code == 500
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_the_same_host_is_allowed_for_websockets() -> None:
    policy = _get("/fine").headers["content-security-policy"]
    assert "connect-src 'self' ws://console.example:8443 wss://console.example:8443;" in policy
    assert b"ws://[::1]:80 wss://[::1]:80" in content_security_policy(b"[::1]:80")


def test_a_host_header_cannot_write_the_policy() -> None:
    for host in (b"evil; script-src *", b"a b", b"x'unsafe-inline'", b"", None):
        policy = content_security_policy(host).decode()
        assert "connect-src 'self'; " in policy, host
        assert "script-src 'self';" in policy and "*" not in policy, host


def test_websockets_pass_untouched() -> None:
    sent: list[dict[str, object]] = []
    incoming: list[dict[str, object]] = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, object]:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b"", "subprotocols": []}
    asyncio.run(_app()(scope, receive, send))  # type: ignore[arg-type]
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert all("headers" not in m or m["headers"] == [] for m in sent)
