"""The public gRPC port (APPOS_GRPC_PORT): the public services only, with the same bearer token and
roles as REST, plus the standard health service and reflection (so `grpcurl` works). It runs in the
gateway process and reuses the REST translation's implementations: a call here and the same REST
call end in the same handler."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.clients import origin, rpc_error
from services.common.errors import AppOSError, PermissionDenied, grpc_code_for
from services.common.logs import request_id_var
from services.common.roles import role_allows
from services.gateway.audit import AuditCall
from services.gateway.context import CallContext
from services.gateway.http_rules import PUBLIC_FILES, REMOTE_SERVICES, access_of
from services.gateway.metrics import RequestMetrics
from services.gateway.open_streams import AccessEnded, OpenStreams, bearer
from services.gateway.rest import caller_metadata

Runtime = Any  # services.gateway.runtime.Runtime (imported lazily to keep this module light)
# The one stream the gateway serves itself rather than forwarding it.
APP_LOGS = "appos.v1.Apps.GetAppLogs"


def _peer_address(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer or "unknown"


async def _context(
    runtime: Runtime,
    method: MethodDescriptor,
    context: grpc.aio.ServicerContext[Any, Any],
    audit: AuditCall | None = None,
) -> CallContext:
    metadata = dict(context.invocation_metadata() or ())
    request_id = str(metadata.get("x-request-id") or uuid.uuid4().hex[:16])[:64]
    request_id_var.set(request_id)
    if audit is not None:
        audit.request_id = request_id
    public, min_role = access_of(method)
    caller = None
    if not public:
        caller = await runtime.authenticator.authenticate(metadata.get("authorization"))
        if audit is not None:
            audit.identify(caller)
        if not role_allows(caller.role, min_role):
            raise PermissionDenied(f"this needs the {min_role} role; you are {caller.role}")
    return CallContext(caller=caller, client_address=_peer_address(context), request_id=request_id)


def _unary(runtime: Runtime, method: MethodDescriptor, metrics: RequestMetrics | None) -> Callable[..., Any]:
    name = f"{method.containing_service.full_name}.{method.name}"
    path = f"/{method.containing_service.full_name}/{method.name}"  # the metrics' method label

    async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        start, code = time.perf_counter(), "OK"
        audit = runtime.audit.start(method, client=_peer_address(context), request_id="")
        if audit is not None:
            audit.describe(request)
        try:
            ctx = await _context(runtime, method, context, audit)
            with origin(audit.origin() if audit is not None else ()):
                reply = await runtime.handlers[name](request, ctx)
        except Exception as exc:
            code = grpc_code_for(exc).name if isinstance(exc, AppOSError) else "INTERNAL"
            if audit is not None:
                audit.done(exc)
            if isinstance(exc, AppOSError):
                await context.abort(grpc_code_for(exc), exc.message)
            raise
        finally:
            if metrics is not None:
                metrics.server_call(path, code, time.perf_counter() - start)
        if audit is not None:
            audit.done(None)
        return reply

    return handle


async def _forwarded(
    runtime: Runtime, method: MethodDescriptor, request: Any, ctx: CallContext
) -> AsyncIterator[Any]:
    """A server stream of the service behind the gateway that serves it (Backups.DownloadBackup)."""
    service = REMOTE_SERVICES[method.containing_service.full_name]
    call = runtime.channels[service].unary_stream(
        f"/{method.containing_service.full_name}/{method.name}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=GetMessageClass(method.output_type).FromString,
    )(request, metadata=caller_metadata(ctx))
    try:
        async for item in call:
            yield item
    except grpc.aio.AioRpcError as exc:
        raise rpc_error(exc, service=service) from exc
    finally:
        call.cancel()


async def _served_here(runtime: Runtime, request: Any) -> AsyncIterator[Any]:
    """Apps.GetAppLogs, which the gateway serves itself (app_logs.py), one line a message."""
    async for batch in await runtime.app_logs.open(request):
        for line in batch:
            yield line


def _stream(runtime: Runtime, method: MethodDescriptor) -> Callable[..., Any]:
    """A server stream, under a stream lease (the caller's limit; aborted with UNAUTHENTICATED or
    PERMISSION_DENIED when the access that opened it ends)."""
    name = f"{method.containing_service.full_name}.{method.name}"
    min_role = access_of(method)[1]

    async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        streams: OpenStreams = runtime.streams
        try:
            ctx = await _context(runtime, method, context)
            token = bearer(str(dict(context.invocation_metadata() or ()).get("authorization") or "") or None)
            lease = await streams.take(ctx.require_caller(), token, min_role=min_role)
        except AppOSError as exc:
            await context.abort(grpc_code_for(exc), exc.message)
            return
        try:
            if name == APP_LOGS:
                source = _served_here(runtime, request)
            else:
                source = _forwarded(runtime, method, request, ctx)
            async for item in lease.guard(source):
                yield item
        except AccessEnded as exc:
            await context.abort(grpc_code_for(exc.error), exc.error.message)
        except AppOSError as exc:
            await context.abort(grpc_code_for(exc), exc.message)
        finally:
            await streams.release(lease)

    return handle


def build_public_server(
    runtime: Runtime,
    *,
    address: str,
    tls: tuple[Path, Path] | None,
    metrics: RequestMetrics | None = None,
    shared_port: bool = False,
) -> grpc.aio.Server:
    """`shared_port`: several gateway processes serve the port (SO_REUSEPORT); otherwise a second
    server on it fails to start rather than sharing it silently."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", int(shared_port))])
    names = []
    for file in PUBLIC_FILES:
        for service in file.services_by_name.values():
            handlers = {}
            for method in service.methods:
                request_class = GetMessageClass(method.input_type)
                reply_class = GetMessageClass(method.output_type)
                if method.server_streaming:
                    handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                        _stream(runtime, method),
                        request_deserializer=request_class.FromString,
                        response_serializer=reply_class.SerializeToString,
                    )
                else:
                    handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                        _unary(runtime, method, metrics),
                        request_deserializer=request_class.FromString,
                        response_serializer=reply_class.SerializeToString,
                    )
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service.full_name, handlers),)
            )
            names.append(service.full_name)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names.append(health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
    reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], server)
    if tls is None:
        server.add_insecure_port(address)
    else:
        cert, key = tls
        credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
        server.add_secure_port(address, credentials)
    return server
