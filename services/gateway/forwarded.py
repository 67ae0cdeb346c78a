"""The client's real address behind AppOS's own Caddy (see `services.common.forwarding`).

`TrustedProxyMiddleware` runs first: on a request that carries the proxy secret it replaces the
ASGI scope's client with the last `X-Forwarded-For` address (the one Caddy wrote); on any other it
leaves the connecting address. Either way it removes the secret from the headers, so nothing after
it can log or echo it. Everything after it (the login limit, the audit log, /metrics' loopback rule,
the WebSockets) reads `scope["client"]`. uvicorn's own proxy-header handling is off (`main.py`): it
trusts `X-Forwarded-For` from any connection from 127.0.0.1.
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.forwarding import PROXY_HEADER

_PROXY_HEADER = PROXY_HEADER.lower().encode()
_FORWARDED_FOR = b"x-forwarded-for"


def forwarded_client(headers: list[tuple[bytes, bytes]], secret: bytes) -> str | None:
    """The client address Caddy forwarded, when the request proves it came through Caddy."""
    proofs = [value for name, value in headers if name == _PROXY_HEADER]
    if len(proofs) != 1 or not hmac.compare_digest(proofs[0], secret):
        return None
    forwarded = b",".join(value for name, value in headers if name == _FORWARDED_FOR)
    last = forwarded.decode("latin-1").rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return None


class TrustedProxyMiddleware:
    def __init__(self, app: ASGIApp, *, secret: str) -> None:
        self.app = app
        self._secret = secret.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = list(scope["headers"])
            client = forwarded_client(headers, self._secret)
            scope = dict(scope)
            scope["headers"] = [(name, value) for name, value in headers if name != _PROXY_HEADER]
            if client is not None:
                scope["client"] = (client, 0)
        await self.app(scope, receive, send)
