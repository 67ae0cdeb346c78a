"""The gateway's ASGI app: generated REST routes, OpenAPI, docs, the dashboard, one error shape."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import AppOSError
from services.common.forwarding import proxy_secret
from services.common.logs import request_id_var
from services.gateway.backup_routes import backup_operations, install_backup_routes
from services.gateway.docs import install_docs
from services.gateway.errors import HTTP_CODES, error_response, response_for
from services.gateway.forwarded import TrustedProxyMiddleware
from services.gateway.http_rules import public_routes
from services.gateway.metrics import Metrics, MetricsMiddleware, metrics_endpoint
from services.gateway.openapi import build_openapi
from services.gateway.public_grpc import build_public_server
from services.gateway.rest import HeaderBinding, HTTPProblem, make_endpoint
from services.gateway.runtime import Runtime
from services.gateway.security_headers import GatewayApp
from services.gateway.settings import GatewaySettings
from services.gateway.streams import install_streams, stream_operations
from services.gateway.system_service import VERSION, health_status
from services.gateway.terminal_ws import install_terminal

logger = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _accepted(_reply: object) -> int:
    return 202


def _created(_reply: object) -> int:
    return 201


# Replies whose REST status is not 200: health, and work that is queued rather than done.
STATUS_HOOKS = {
    "appos.v1.System.GetHealth": health_status,
    **{
        f"appos.v1.Apps.{name}": _accepted
        for name in ("CreateApp", "StartApp", "StopApp", "RestartApp", "RedeployApp", "DeleteApp", "Rollback")
    },
    "appos.v1.Backups.CreateBackup": _accepted,
    "appos.v1.Backups.RestoreBackup": _accepted,
    "appos.v1.Updates.CheckUpdates": _accepted,
    "appos.v1.Updates.UpdateApp": _accepted,
    "appos.v1.Stores.AddStore": _created,
    "appos.v1.Servers.AddServer": _created,
    "appos.v1.Stores.RefreshStore": _accepted,
}
# Optimistic locking of compose edits over REST: ETag out, If-Match in.
HEADER_BINDINGS = {
    "appos.v1.Apps.GetCompose": HeaderBinding(response_header="ETag", response_field="etag"),
    "appos.v1.Apps.UpdateCompose": HeaderBinding(
        request_header="If-Match", request_field="if_match", required=True
    ),
}


class RequestIdMiddleware:
    """Takes a sane `x-request-id` from the client or makes one; logs and replies carry it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class DashboardMount(Mount):
    """Mounted at "/" but never matching /api/…: there the router answers 404 or 405 itself."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if path == "/api" or path.startswith("/api/"):
            return Match.NONE, {}
        return super().matches(scope)


class DashboardFiles(StaticFiles):
    """The dashboard's static build with SPA fallback: unknown paths get index.html."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            return await super().get_response(path, scope)
        except StarletteHTTPException as exc:
            if exc.status_code != 404:
                raise
            return await super().get_response("index.html", scope)


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


def install_error_handlers(app: FastAPI) -> None:
    async def appos_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppOSError)
        return response_for(exc, _request_id(request))

    async def problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPProblem)
        return error_response(exc.status, exc.code, exc.message, _request_id(request))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), _request_id(request))

    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        rid = _request_id(request)
        return error_response(500, "internal", f"internal error (request id {rid})", rid)

    app.add_exception_handler(AppOSError, appos_error)
    app.add_exception_handler(HTTPProblem, problem)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def create_app(settings: GatewaySettings) -> FastAPI:
    routes = public_routes()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = Runtime.start(settings, routes)
        public_grpc = None
        if settings.grpc_port:
            tls = (settings.grpc_tls_cert, settings.grpc_tls_key)
            public_grpc = build_public_server(
                app.state.runtime,
                address=f"{settings.host}:{settings.grpc_port}",
                tls=tls if tls[0] and tls[1] else None,  # type: ignore[arg-type]
                metrics=metrics.requests,
                shared_port=settings.gateway_processes > 1,
            )
            await public_grpc.start()
        try:
            yield
        finally:
            if public_grpc is not None:
                await public_grpc.stop(2)
            await app.state.runtime.close()

    app = GatewayApp(  # security headers on every response: services/gateway/security_headers.py
        title="AppOS", version=VERSION, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    metrics = Metrics(
        cache_seconds=settings.metrics_cache_seconds, supervisor_socket=settings.socket_path("supervisor")
    )
    app.state.metrics, app.state.metrics_public_local = metrics, settings.metrics_public_local
    document = openapi_document()
    app.openapi = lambda: document  # type: ignore[method-assign]
    for route in routes:
        endpoint = make_endpoint(
            route,
            max_body_bytes=settings.max_body_bytes,
            status_hook=STATUS_HOOKS.get(route.full_name),
            headers=HEADER_BINDINGS.get(route.full_name),
        )
        app.router.add_route(route.path, endpoint, methods=[route.verb.upper()], include_in_schema=False)

    async def openapi_json(request: Request) -> Response:
        await request.app.state.runtime.authenticator.authenticate(request.headers.get("authorization"))
        return JSONResponse(document)

    install_streams(app, allowed_origins=settings.allowed_origins)
    install_terminal(app, allowed_origins=settings.allowed_origins)
    install_backup_routes(app, settings)
    app.router.add_route("/openapi.json", openapi_json, methods=["GET"], include_in_schema=False)
    app.router.add_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    install_docs(app)  # /docs and Swagger UI's files, before the dashboard's catch-all mount
    if settings.dashboard_dir.is_dir():
        app.router.routes.append(
            DashboardMount(
                "/", app=DashboardFiles(directory=settings.dashboard_dir, html=True), name="dashboard"
            )
        )
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics.requests)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(TrustedProxyMiddleware, secret=proxy_secret(settings))  # first: the real client
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document without a running stack (for clients' code generation and tests)."""
    document = build_openapi(
        public_routes(),
        version=VERSION,
        success_status={name: 202 for name, hook in STATUS_HOOKS.items() if hook is _accepted},
        required_headers={
            name: frozenset({binding.request_header})
            for name, binding in HEADER_BINDINGS.items()
            if binding.required
        },
    )
    document["paths"].update(stream_operations())
    document["paths"].update(backup_operations())
    return document
