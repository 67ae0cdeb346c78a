"""What REST cannot say by annotation: streams. Live events (server-sent events and a WebSocket,
both resumable from any seq) and container logs (JSON, or NDJSON while following)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from appos.v1 import apps_pb2, common_pb2
from services.common.clients import first_of, rpc_error
from services.common.errors import (
    AppOSError,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
)
from services.common.roles import role_allows
from services.gateway.context import Caller
from services.gateway.event_hub import EventHub
from services.gateway.http_rules import Route
from services.gateway.jsonify import message_to_json
from services.gateway.rest import authorize, caller_metadata, require_role
from services.gateway.translate import build_request
from services.gateway.ws import open_websocket

KEEPALIVE_SECONDS = 15.0
WS_AUTH_SECONDS = 10.0

_APPS = apps_pb2.DESCRIPTOR.services_by_name["Apps"]
LOGS_ROUTE = Route(
    method=_APPS.methods_by_name["GetAppLogs"],
    verb="get",
    path="/api/v1/apps/{app}/logs",
    body="",
    public=False,
    min_role="viewer",
)
EVENTS_PATH = "/api/v1/events"
EVENTS_WS_PATH = "/api/v1/events/ws"


# Event types below admin: apps (their status, options, versions), deployments and their log lines,
# domains and certificates. Everything else — logins, tokens, users, terminal sessions, backups,
# notification targets, settings, the signing key, and any type added later — is for admins only.
SHARED_EVENT_PREFIXES = ("app_", "deployment_", "version_", "domain_", "certificate_")


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
        ctx = await require_role(request, request.app.state.runtime.authenticator, "viewer")
        role = ctx.require_caller().role
        hub: EventHub = request.app.state.runtime.events
        after = _after(request.query_params.get("after") or request.headers.get("last-event-id"))
        start = await _start_seq(hub, after)

        async def body() -> AsyncIterator[bytes]:
            yield f"retry: 2000\n: events after {start}\n\n".encode()
            async for event in visible_events(hub, start, role=role):
                if event is None:
                    yield b": keepalive\n\n"
                    continue
                data = json.dumps(event_json(event), separators=(",", ":"))
                yield f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n".encode()

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(body(), media_type="text/event-stream", headers=headers)

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
        except (TimeoutError, ValueError, WebSocketDisconnect):
            await websocket.close(code=4401, reason='send {"token": …} first')
            return
        except Unauthenticated as exc:
            await websocket.close(code=4401, reason=exc.message[:120])
            return
        except AppOSError as exc:
            await websocket.close(code=4400, reason=exc.message[:120])
            return
        await websocket.send_json({"type": "hello", "after": start})
        try:
            async for event in visible_events(hub, start, role=caller.role):
                if event is None:
                    await websocket.send_json({"type": "keepalive"})
                else:
                    await websocket.send_json(event_json(event))
            await websocket.close(code=1012, reason="events paused; reconnect with after=<last seq>")
        except WebSocketDisconnect:
            return

    async def app_logs(request: Request) -> Response:
        runtime = request.app.state.runtime
        ctx = await authorize(LOGS_ROUTE, request, runtime.authenticator)
        message = build_request(
            LOGS_ROUTE,
            path_params=request.path_params,
            query=list(request.query_params.multi_items()),
            body=b"",
        )
        assert isinstance(message, apps_pb2.GetAppLogsRequest)
        call = runtime.channels["deployer"].unary_stream(
            "/appos.v1.Apps/GetAppLogs",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=apps_pb2.LogLine.FromString,
        )(message, metadata=caller_metadata(ctx), timeout=None if message.follow else 60)
        first, iterator = await first_of(call, service="deployer")
        if not message.follow:
            lines = [] if first is None else [message_to_json(first)]
            try:
                lines.extend([message_to_json(line) async for line in iterator])
            except grpc.aio.AioRpcError as exc:
                raise rpc_error(exc, service="deployer") from exc
            return JSONResponse({"lines": lines})

        async def body() -> AsyncIterator[bytes]:
            try:
                if first is not None:
                    yield (json.dumps(message_to_json(first)) + "\n").encode()
                async for line in iterator:
                    yield (json.dumps(message_to_json(line)) + "\n").encode()
            except grpc.aio.AioRpcError:
                return
            finally:
                call.cancel()

        return StreamingResponse(body(), media_type="application/x-ndjson")

    app.router.add_route(EVENTS_PATH, events_sse, methods=["GET"], include_in_schema=False)
    app.router.add_websocket_route(EVENTS_WS_PATH, events_ws)
    app.router.add_route(LOGS_ROUTE.path, app_logs, methods=["GET"], include_in_schema=False)


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
