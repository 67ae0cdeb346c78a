"""`Apps.GetAppLogs`, served by the gateway itself from the Docker engine (`docker_logs.py`), so a
log follow holds no service's thread: `GET /api/v1/apps/{app}/logs?tail=&service=&follow=` (JSON
`{"lines"}`, or NDJSON while following) and the same method on the public gRPC port.

Each request holds a stream lease (`open_streams.py`): it counts against the caller's open streams,
and a follow ends, with a last NDJSON object `{"code", "message", "request_id"}`, when the access
that opened it ends.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from appos.v1 import apps_pb2, state_pb2, state_pb2_grpc
from services.common import engines
from services.common.clients import aio_call
from services.common.errors import InvalidArgument
from services.common.names import validate_app_name, validate_service_name
from services.gateway.docker_logs import DockerLogs, Line, stamp_ns
from services.gateway.errors import body_for
from services.gateway.http_rules import Route
from services.gateway.jsonify import message_to_json
from services.gateway.open_streams import (
    AccessEnded,
    Lease,
    LeasedStreamingResponse,
    OpenStreams,
    bearer,
)
from services.gateway.rest import authorize
from services.gateway.translate import build_request

MAX_TAIL = 5000
DEFAULT_TAIL = 200

Batches = AsyncIterator[list[apps_pb2.LogLine]]

_APPS = apps_pb2.DESCRIPTOR.services_by_name["Apps"]
LOGS_ROUTE = Route(
    method=_APPS.methods_by_name["GetAppLogs"],
    verb="get",
    path="/api/v1/apps/{app}/logs",
    body="",
    public=False,
    min_role="viewer",
)


def _pb(lines: list[Line]) -> list[apps_pb2.LogLine]:
    out = []
    for line in lines:
        pb = apps_pb2.LogLine(service=line.service, line=line.text)
        if line.stamp and (ns := stamp_ns(line.stamp)) is not None:
            pb.time.FromNanoseconds(ns)
        out.append(pb)
    return out


class AppLogs:
    def __init__(
        self, *, state: state_pb2_grpc.StateStub, docker: DockerLogs, rpc_timeout: float,
        sockets: Path | None = None,
    ) -> None:  # fmt: skip
        self._state = state
        self._docker = docker  # this machine's engine
        self._timeout = rpc_timeout
        self._sockets = sockets  # where remote servers' forwarded Docker sockets are (issue 21)
        self._remote: dict[str, DockerLogs] = {}

    def _engine(self, server: str) -> DockerLogs:
        if not engines.is_remote(server) or self._sockets is None:
            return self._docker
        if server not in self._remote:
            self._remote[server] = DockerLogs(
                engines.docker_host(self._sockets, server, ""), timeout=self._docker.timeout
            )
        return self._remote[server]

    async def open(self, request: apps_pb2.GetAppLogsRequest) -> Batches:
        """The request checked and the app found (errors are raised here, before anything streams),
        then its lines in batches."""
        validate_app_name(request.app)
        if request.service:
            validate_service_name(request.service)
        if not 0 <= request.tail <= MAX_TAIL:
            raise InvalidArgument(f"tail must be between 0 and {MAX_TAIL}")
        record = await aio_call(
            self._state.GetApp,
            state_pb2.StateGetAppRequest(name=request.app),
            service="state",
            timeout=self._timeout,
        )  # NotFound for an unknown app
        return self._batches(request, self._engine(record.app.server))

    async def _batches(self, request: apps_pb2.GetAppLogsRequest, docker: DockerLogs) -> Batches:
        tail = request.tail or DEFAULT_TAIL
        if not request.follow:
            yield _pb(await docker.tail(app=request.app, service=request.service, tail=tail))
            return
        async for batch in docker.follow(app=request.app, service=request.service, tail=tail):
            yield _pb(batch)


async def _ndjson(lease: Lease, batches: Batches, request_id: str) -> AsyncIterator[bytes]:
    try:
        async for batch in lease.guard(batches):
            yield "".join(json.dumps(message_to_json(line)) + "\n" for line in batch).encode()
    except AccessEnded as exc:
        yield (json.dumps(body_for(exc.error, request_id)) + "\n").encode()


async def logs_endpoint(request: Request) -> Response:
    runtime = request.app.state.runtime
    ctx = await authorize(LOGS_ROUTE, request, runtime.authenticator)
    message = build_request(
        LOGS_ROUTE, path_params=request.path_params, query=list(request.query_params.multi_items()), body=b""
    )
    assert isinstance(message, apps_pb2.GetAppLogsRequest)
    streams: OpenStreams = runtime.streams
    token = bearer(request.headers.get("authorization"))
    lease = await streams.take(ctx.require_caller(), token, min_role=LOGS_ROUTE.min_role)
    streaming = False
    try:
        batches = await runtime.app_logs.open(message)
        if message.follow:
            streaming = True  # the response releases the lease when it ends
            body = _ndjson(lease, batches, ctx.request_id)
            return LeasedStreamingResponse(
                body, streams=streams, lease=lease, media_type="application/x-ndjson"
            )
        lines = [message_to_json(line) async for batch in batches for line in batch]
    finally:
        if not streaming:
            await streams.release(lease)
    return JSONResponse({"lines": lines})
