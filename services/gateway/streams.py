"""What REST cannot say by annotation: streams. Live events (server-sent events and a WebSocket,
both resumable from any seq) and container logs (JSON, or NDJSON while following; `app_logs.py`).

Each open stream holds a lease (`open_streams.py`): counted against the caller's limit, and ended
when the access that opened it ends — SSE with a last `error` event, the WebSocket with an `error`
message and close code 4401 or 4403."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from starlette.requests import Request
from starlette.responses import Response

from appos.v1 import common_pb2
from services.common.errors import (
    AppOSError,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
)
from services.common.roles import role_allows
from services.gateway.app_logs import LOGS_ROUTE, logs_endpoint
from services.gateway.context import Caller
from services.gateway.errors import body_for
from services.gateway.event_hub import EventHub
from services.gateway.jsonify import message_to_json
from services.gateway.open_streams import (
    AccessEnded,
    LeasedStreamingResponse,
    OpenStreams,
    bearer,
)
from services.gateway.rest import require_role
from services.gateway.ws import close_code, close_reason, open_websocket, refuse

KEEPALIVE_SECONDS = 15.0
WS_AUTH_SECONDS = 10.0

EVENTS_PATH = "/api/v1/events"
EVENTS_WS_PATH = "/api/v1/events/ws"


# Event types below admin: apps (their status, options, versions), deployments and their log lines,
# domains and certificates, image updates found and update checks ended. Everything else — logins,
# tokens, users, terminal sessions, backups, notification targets, settings, the signing key, and any
# type added later — is for admins only.
SHARED_EVENT_PREFIXES = ("app_", "deployment_", "version_", "domain_", "certificate_", "update_", "updates_")


def event_visible(event_type: str, role: str) -> bool:
    return role == "admin" or event_type.startswith(SHARED_EVENT_PREFIXES)


async def visible_events(hub: EventHub, after: int, *, role: str) -> AsyncIterator[common_pb2.Event | None]:
    """The hub's events a caller of `role` may read (None: a keepalive)."""
    async for event in hub.events(after, keepalive=KEEPALIVE_SECONDS):
        if event is None or event_visible(event.type, role):
            yield event


def event_json(event: common_pb2.Event) -> dict[str, Any]:
    out = message_to_json(event)
    out["seq"] = event.seq
    try:
        out["payload"] = json.loads(event.payload_json or "{}")
    except json.JSONDecodeError:
        out["payload"] = {}
    del out["payload_json"]
    return out


def _after(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise InvalidArgument("after must be a non-negative event seq")
    return int(value)


async def _start_seq(hub: EventHub, after: int | None) -> int:
    """`after` as given, or the newest seq (live events only) when the client gave none."""
    return after if after is not None else await hub.newest_seq()


def install_streams(app: FastAPI, *, allowed_origins: list[str]) -> None:
    async def events_sse(request: Request) -> Response:
        runtime = request.app.state.runtime
        ctx = await require_role(request, runtime.authenticator, "viewer")
        caller = ctx.require_caller()
        role = caller.role
        hub: EventHub = runtime.events
        after = _after(request.query_params.get("after") or request.headers.get("last-event-id"))
        start = await _start_seq(hub, after)
        streams: OpenStreams = runtime.streams
        lease = await streams.take(caller, bearer(request.headers.get("authorization")), min_role="viewer")

        async def body() -> AsyncIterator[bytes]:
            yield f"retry: 2000\n: events after {start}\n\n".encode()
            try:
                async for event in lease.guard(visible_events(hub, start, role=role)):
                    if event is None:
                        yield b": keepalive\n\n"
                        continue
                    data = json.dumps(event_json(event), separators=(",", ":"))
                    yield f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n".encode()
            except AccessEnded as exc:  # the access ended: say why, once, and end
                data = json.dumps(body_for(exc.error, ctx.request_id), separators=(",", ":"))
                yield f"event: error\ndata: {data}\n\n".encode()

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return LeasedStreamingResponse(
            body(), streams=streams, lease=lease, media_type="text/event-stream", headers=headers
        )

    async def events_ws(websocket: WebSocket) -> None:
        runtime = websocket.app.state.runtime
        header_token = await open_websocket(websocket, allowed_origins)
        if header_token is None:
            return
        try:
            token = header_token
            if not token:
                first = await asyncio.wait_for(websocket.receive_json(), WS_AUTH_SECONDS)
                token = str(first.get("token", "")) if isinstance(first, dict) else ""
            caller: Caller = await runtime.authenticator.authenticate_token(token)
            if not role_allows(caller.role, "viewer"):
                raise PermissionDenied("viewer role needed")
            hub: EventHub = runtime.events
            start = await _start_seq(hub, _after(websocket.query_params.get("after")))
            streams: OpenStreams = runtime.streams
            lease = await streams.take(caller, token, min_role="viewer")
        except (TimeoutError, ValueError, WebSocketDisconnect):
            await websocket.close(code=4401, reason='send {"token": …} first')
            return
        except Unauthenticated as exc:
            await websocket.close(code=4401, reason=exc.message[:120])
            return
        except AppOSError as exc:
            await websocket.close(code=close_code(exc), reason=close_reason(exc.message))
            return
        try:
            await websocket.send_json({"type": "hello", "after": start})
            async for event in lease.guard(visible_events(hub, start, role=caller.role)):
                if event is None:
                    await websocket.send_json({"type": "keepalive"})
                else:
                    await websocket.send_json(event_json(event))
            await websocket.close(code=1012, reason="events paused; reconnect with after=<last seq>")
        except AccessEnded as exc:
            await refuse(websocket, exc.error)
        except WebSocketDisconnect:
            return
        finally:
            await streams.release(lease)

    app.router.add_route(EVENTS_PATH, events_sse, methods=["GET"], include_in_schema=False)
    app.router.add_websocket_route(EVENTS_WS_PATH, events_ws)
    app.router.add_route(LOGS_ROUTE.path, logs_endpoint, methods=["GET"], include_in_schema=False)


def stream_operations() -> dict[str, dict[str, Any]]:
    """OpenAPI entries for the hand-written streams."""
    error = {
        "description": "Error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    return {
        EVENTS_PATH: {
            "get": {
                "operationId": "Events_Stream",
                "summary": "Live events as server-sent events (resume with ?after=SEQ or Last-Event-ID)",
                "tags": ["Events"],
                "parameters": [
                    {
                        "name": "after",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0},
                    }
                ],
                "responses": {"200": {"description": "text/event-stream"}, "default": error},
                "description": "Needs the viewer role or higher. WebSocket: /api/v1/events/ws?after=SEQ",
            }
        },
        LOGS_ROUTE.path: {
            "get": {
                "operationId": "Apps_GetAppLogs",
                "summary": "Container logs: JSON {lines}, or NDJSON streamed while follow=true",
                "tags": ["Apps"],
                "parameters": [
                    {"name": "app", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "service", "in": "query", "required": False, "schema": {"type": "string"}},
                    {
                        "name": "tail",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0, "maximum": 5000},
                    },
                    {"name": "follow", "in": "query", "required": False, "schema": {"type": "boolean"}},
                ],
                "responses": {"200": {"description": "log lines"}, "default": error},
                "description": "Needs the viewer role or higher.",
            }
        },
    }
