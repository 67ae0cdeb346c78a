"""One generic REST endpoint per public method, built from its `google.api.http` rule.

authenticate (unless public) → check the role → read the body (size-limited) → build the proto
request → call the implementation → answer its reply as proto JSON. Errors are raised as
AppOSError / HTTPProblem and rendered once by the app's exception handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc.aio
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from starlette.requests import Request
from starlette.responses import Response

from services.common.clients import aio_call, call_metadata, origin
from services.common.errors import PermissionDenied
from services.common.roles import role_allows
from services.gateway.audit import AuditCall, audited
from services.gateway.authn import Authenticator
from services.gateway.context import CallContext
from services.gateway.http_rules import REMOTE_SERVICES, Route
from services.gateway.translate import ProtoJSONResponse, build_request

Handler = Callable[[Any, CallContext], Awaitable[Message]]
StatusHook = Callable[[Any], int]


class HTTPProblem(Exception):
    """An error the gateway answers itself, before any service is involved."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


async def read_body(request: Request, limit: int) -> bytes:
    too_large = HTTPProblem(413, "payload_too_large", f"request body is larger than {limit} bytes")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def authorize(
    route: Route, request: Request, authenticator: Authenticator, audit: AuditCall | None = None
) -> CallContext:
    return await require_role(request, authenticator, None if route.public else route.min_role, audit)


async def require_role(
    request: Request, authenticator: Authenticator, min_role: str | None, audit: AuditCall | None = None
) -> CallContext:
    """The caller's context; with `min_role`, a valid bearer token of that role or higher is required.
    `audit` learns the caller before the role check (a 403 is recorded with who was refused)."""
    caller = None
    if min_role is not None:
        caller = await authenticator.authenticate(request.headers.get("authorization"))
        if audit is not None:
            audit.identify(caller)
        if not role_allows(caller.role, min_role):
            raise PermissionDenied(f"this needs the {min_role} role; you are {caller.role}")
    return CallContext(
        caller=caller, client_address=client_address(request), request_id=request.state.request_id
    )


def caller_metadata(ctx: CallContext) -> tuple[tuple[str, str], ...]:
    """Who calls, for the service behind the gateway (it trusts the gateway: Unix sockets only)."""
    if ctx.caller is None:
        return call_metadata()
    return call_metadata(user=ctx.caller.username, role=ctx.caller.role)


def remote_handler(
    channel: grpc.aio.Channel, method: MethodDescriptor, *, service: str, timeout: float
) -> Handler:
    """Forward one unary method to `service` over gRPC, with the caller in metadata."""
    reply_class = GetMessageClass(method.output_type)
    call: grpc.aio.UnaryUnaryMultiCallable[Message, Message] = channel.unary_unary(
        f"/{method.containing_service.full_name}/{method.name}",
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=reply_class.FromString,
    )

    async def handle(request: Message, ctx: CallContext) -> Message:
        reply: Message = await aio_call(
            call, request, service=service, timeout=timeout, metadata=caller_metadata(ctx)
        )
        return reply

    return handle


def resolve_handlers(
    routes: list[Route],
    implementations: Mapping[str, object],
    channels: Mapping[str, grpc.aio.Channel],
    *,
    timeout: float,
    timeouts: Mapping[str, float] | None = None,
) -> dict[str, Handler]:
    """Each route's implementation: a servicer in this process (`implementations`, by service
    name) or the service's process over gRPC (REMOTE_SERVICES), with `timeout`, or the method's own
    in `timeouts` (by full name) for work that takes long by nature. A route with neither is a
    startup error, never a 404 at run time."""
    handlers: dict[str, Handler] = {}
    for route in routes:
        service_name = route.method.containing_service.full_name
        local = getattr(implementations.get(service_name), route.method.name, None)
        if local is not None:
            handlers[route.full_name] = local
        elif REMOTE_SERVICES.get(service_name) in channels:
            remote = REMOTE_SERVICES[service_name]
            handlers[route.full_name] = remote_handler(
                channels[remote], route.method, service=remote,
                timeout=(timeouts or {}).get(route.full_name, timeout),
            )  # fmt: skip
        else:
            raise RuntimeError(f"no implementation for {route.full_name}")
    return handlers


@dataclass(frozen=True)
class HeaderBinding:
    """A request header that fills a request field (REST only), and a reply field sent back as a
    response header. `required`: answer 428 when the request header is missing."""

    request_header: str = ""
    request_field: str = ""
    required: bool = False
    response_header: str = ""
    response_field: str = ""


def make_endpoint(
    route: Route,
    *,
    max_body_bytes: int,
    status_hook: StatusHook | None = None,
    headers: HeaderBinding | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint finds the authenticator and implementations on `app.state.runtime`, which the
    app's lifespan builds (gRPC channels and Redis clients belong to the running event loop)."""

    async def serve(request: Request, runtime: Any, audit: AuditCall | None) -> Response:
        ctx = await authorize(route, request, runtime.authenticator, audit)
        body = await read_body(request, max_body_bytes)
        message = build_request(
            route,
            path_params=request.path_params,
            query=list(request.query_params.multi_items()),
            body=body,
        )
        if headers is not None and headers.request_header:
            value = request.headers.get(headers.request_header, "")
            if not value and headers.required:
                raise HTTPProblem(
                    428,
                    "precondition_required",
                    f"the {headers.request_header} header is required: send the ETag you read",
                )
            setattr(message, headers.request_field, value)
        if audit is None:
            reply = await runtime.handlers[route.full_name](message, ctx)
        else:
            audit.describe(message, request.path_params)
            with origin(audit.origin()):
                reply = await runtime.handlers[route.full_name](message, ctx)
        status = status_hook(reply) if status_hook else 200
        extra = None
        if headers is not None and headers.response_header:
            extra = {headers.response_header: str(getattr(reply, headers.response_field))}
        return ProtoJSONResponse(reply, status_code=status, headers=extra)

    mutating = audited(route.method)

    async def endpoint(request: Request) -> Response:
        runtime = request.app.state.runtime
        if not mutating:
            return await serve(request, runtime, None)
        audit = AuditCall(
            runtime.audit, route.method, client=client_address(request), request_id=request.state.request_id
        )
        audit.describe(None, request.path_params)  # until the request is read (a 401 or 403)
        try:
            response = await serve(request, runtime, audit)
        except Exception as exc:
            audit.done(exc)
            raise
        audit.done(None)
        return response

    endpoint.__name__ = route.full_name.replace(".", "_")
    return endpoint
