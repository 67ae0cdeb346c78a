"""The handshake shared by the gateway's WebSockets (events, terminal): Origin check, the
`appos.v1` subprotocol, and a bearer token offered as `bearer.<token>` (never in the URL)."""

from __future__ import annotations

from fastapi import WebSocket

WS_SUBPROTOCOL = "appos.v1"


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
