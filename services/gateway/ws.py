"""What the gateway's WebSockets (events, terminal) share: the handshake (Origin check, the
`appos.v1` subprotocol, a bearer token offered as `bearer.<token>`, never in the URL), and how one
is refused or ended with an error: an `error` message, then a close with 4000 + the HTTP status."""

from __future__ import annotations

import contextlib

from fastapi import WebSocket, WebSocketDisconnect

from services.common.errors import AppOSError, grpc_code_for
from services.gateway.errors import HTTP_STATUS, code_for

WS_SUBPROTOCOL = "appos.v1"


def close_reason(message: str) -> str:
    """A close frame's reason holds at most 123 bytes."""
    return message.encode()[:120].decode(errors="ignore")


def close_code(exc: AppOSError) -> int:
    """4000 + the error's HTTP status: 4400, 4401, 4403, 4404, 4429, 4503, …"""
    return 4000 + HTTP_STATUS.get(grpc_code_for(exc), 500)


async def refuse(websocket: WebSocket, exc: AppOSError) -> None:
    """`{"type": "error", "code", "message"}`, then the close (the client may be gone already)."""
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.send_json({"type": "error", "code": code_for(exc), "message": exc.message})
        await websocket.close(code=close_code(exc), reason=close_reason(exc.message))


def origin_allowed(websocket: WebSocket, allowed_origins: list[str]) -> bool:
    """No Origin (not a browser), the console's own, or one listed in APPOS_ALLOWED_ORIGINS."""
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host", "")
    return not origin or origin.split("://", 1)[-1] == host or origin in allowed_origins


async def open_websocket(websocket: WebSocket, allowed_origins: list[str]) -> str | None:
    """Refuse a cross-origin handshake (HTTP 403; None), else accept it and return the token the
    client offered in Sec-WebSocket-Protocol ("" when it will send {"token": …} first)."""
    if not origin_allowed(websocket, allowed_origins):
        await websocket.close(code=4403, reason="cross-origin WebSocket refused")
        return None
    header = websocket.headers.get("sec-websocket-protocol", "")
    offered = [p.strip() for p in header.split(",") if p.strip()]
    token = next((p.removeprefix("bearer.") for p in offered if p.startswith("bearer.")), "")
    await websocket.accept(subprotocol=WS_SUBPROTOCOL if WS_SUBPROTOCOL in offered else None)
    return token


def offered(websocket: WebSocket, prefix: str) -> str:
    """The value of the first subprotocol offered as `<prefix><value>` ("" when none is)."""
    header = websocket.headers.get("sec-websocket-protocol", "")
    values = (p.strip().removeprefix(prefix) for p in header.split(",") if p.strip().startswith(prefix))
    return next(values, "")
