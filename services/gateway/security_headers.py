"""Security headers on every HTTP response of the gateway: the console, the API, errors, /docs.

The console may load only its own scripts and styles and cannot be framed:

- `Content-Security-Policy`: everything from the gateway's own origin; scripts never inline (the
  Vite build has none; /docs starts Swagger UI from a file, see `docs.py`); styles may be inline
  because CodeMirror, xterm.js and Radix insert `<style>` elements; images also as `data:` URLs;
  fetches and the WebSockets (events, terminal) to this host only; no plugins, no `<base>`, forms
  post only here, and no page of another origin may frame it (`frame-ancestors 'none'`);
- `X-Frame-Options: DENY` for browsers that predate `frame-ancestors`;
- `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`.

One pure ASGI middleware (no extra task or body copy). `GatewayApp` puts it outside Starlette's
`ServerErrorMiddleware`, so a 500 carries the headers too. WebSockets have no response headers:
their scopes pass through untouched.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'{sockets}; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# A Host header that may go into the policy as is: a name or address, an optional port.
_HOST = re.compile(rb"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
FIXED_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


def content_security_policy(host: bytes | None) -> bytes:
    """The policy for a request to `host` (its Host header). CSP level 3 lets `'self'` match
    ws:/wss: of the same origin; the explicit sources are for browsers that do not yet."""
    sockets = ""
    if host and _HOST.fullmatch(host):
        name = host.decode("ascii")
        sockets = f" ws://{name} wss://{name}"
    return _POLICY.format(sockets=sockets).encode("ascii")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                host = next((value for name, value in scope["headers"] if name == b"host"), None)
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"content-security-policy", content_security_policy(host)),
                    *FIXED_HEADERS,
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class GatewayApp(FastAPI):
    """FastAPI with `SecurityHeadersMiddleware` around the whole stack, 500 pages included (user
    middleware sits inside Starlette's `ServerErrorMiddleware`, which answers unhandled errors)."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack())
