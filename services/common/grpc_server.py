"""Building and running the internal gRPC servers: Unix socket, error interceptor, health, reflection."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.clients import origin_from, origin_var
from services.common.errors import APPOS_ERROR_KEY, AppOSError, grpc_code_for
from services.common.logs import request_id_var

logger = logging.getLogger(__name__)

Registrar = Callable[[Any, grpc.Server], None]


def actor(context: grpc.ServicerContext) -> str:
    """The user the gateway says is calling (internal sockets only: the gateway is trusted)."""
    metadata = dict(context.invocation_metadata() or ())
    return str(metadata.get("x-appos-user", "")) or "system"


def caller_role(context: grpc.ServicerContext) -> str:
    """The role the gateway says the caller has; none (an internal caller) counts as a viewer."""
    metadata = dict(context.invocation_metadata() or ())
    return str(metadata.get("x-appos-role", "")) or "viewer"


class ErrorInterceptor(grpc.ServerInterceptor):
    """Maps AppOSError to its status code; anything else becomes INTERNAL, logged once with the
    traceback and answered with a generic message. Also takes the caller's request id and origin
    (`clients.origin_var`), so calls this handler makes carry them on."""

    def intercept_service(self, continuation: Callable[[Any], Any], handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        metadata = dict(handler_call_details.invocation_metadata or ())
        request_id = str(metadata.get("x-request-id", "-"))[:64]
        caller_origin = origin_from(metadata)
        method = handler_call_details.method

        def fail(context: grpc.ServicerContext, exc: Exception) -> None:
            if isinstance(exc, AppOSError):
                # marks the message as ours, for users: clients keep it even for UNAVAILABLE
                context.set_trailing_metadata(((APPOS_ERROR_KEY, "1"),))
                context.abort(grpc_code_for(exc), exc.message)
            logger.exception("unhandled error in %s", method)
            context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})")

        if handler.unary_unary:
            inner = handler.unary_unary

            def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
                token, origin_token = request_id_var.set(request_id), origin_var.set(caller_origin)
                try:
                    return inner(request, context)
                except Exception as exc:  # noqa: BLE001 - mapped to a status, never swallowed
                    if context.code() is not None:  # type: ignore[attr-defined]  # grpc has it; the stubs lack it  # the servicer aborted on purpose
                        raise
                    fail(context, exc)
                finally:
                    request_id_var.reset(token)
                    origin_var.reset(origin_token)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            inner_stream = handler.unary_stream

            def unary_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                token, origin_token = request_id_var.set(request_id), origin_var.set(caller_origin)
                try:
                    yield from inner_stream(request, context)
                except Exception as exc:  # noqa: BLE001
                    if context.code() is not None:  # type: ignore[attr-defined]  # grpc has it; the stubs lack it
                        raise
                    fail(context, exc)
                finally:
                    request_id_var.reset(token)
                    origin_var.reset(origin_token)

            return grpc.unary_stream_rpc_method_handler(
                unary_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


class StreamBudget(grpc.ServerInterceptor):
    """Streams (server and bidirectional) run on threads of their own: at most `limit` at once, on
    top of the `max_workers` the other calls have, so open streams can never take the threads
    every other call needs. One more is refused at once with RESOURCE_EXHAUSTED."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)

    def _admit(self, context: grpc.ServicerContext) -> None:
        if not self._slots.acquire(blocking=False):
            context.set_trailing_metadata(((APPOS_ERROR_KEY, "1"),))
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"this service has {self.limit} streams open, its limit; try again shortly",
            )

    def intercept_service(self, continuation: Callable[[Any], Any], handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        if handler.unary_stream:
            unary_inner = handler.unary_stream

            def unary_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                self._admit(context)
                try:
                    yield from unary_inner(request, context)
                finally:
                    self._slots.release()

            return grpc.unary_stream_rpc_method_handler(
                unary_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream:
            stream_inner = handler.stream_stream

            def stream_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
                self._admit(context)
                try:
                    yield from stream_inner(requests, context)
                finally:
                    self._slots.release()

            return grpc.stream_stream_rpc_method_handler(
                stream_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def build_server(
    *,
    socket_path: Path,
    services: Sequence[tuple[Registrar, Any, str]],
    max_workers: int = 16,
    max_streams: int = 16,
) -> tuple[grpc.Server, health.HealthServicer]:
    """A server on `socket_path` serving each (add_XServicer_to_server, servicer, full name),
    plus the standard health service (every service SERVING) and reflection. Unary calls have
    `max_workers` threads; streams up to `max_streams` more (`StreamBudget`)."""
    server = grpc.server(
        ThreadPoolExecutor(max_workers=max_workers + max_streams, thread_name_prefix="grpc"),
        interceptors=[StreamBudget(max_streams), ErrorInterceptor()],
        options=[("grpc.so_reuseport", 0)],
    )
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = []
    for register, servicer, name in services:
        register(servicer, server)
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        names.append(name)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if socket_path.exists() or socket_path.is_symlink():
        socket_path.unlink()
    server.add_insecure_port(f"unix:{socket_path}")
    return server, health_servicer


def serve_until_signalled(
    server: grpc.Server, *, socket_path: Path, grace: float = 5.0, on_stop: Callable[[], None] | None = None
) -> None:
    """Start, restrict the socket to this user, and stop gracefully on SIGTERM/SIGINT."""
    stopped = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        logger.info("signal %d: stopping (grace %.0fs)", signum, grace)
        stopped.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    server.start()
    os.chmod(socket_path, 0o600)
    logger.info("serving on unix:%s", socket_path)
    stopped.wait()
    if on_stop is not None:
        on_stop()
    server.stop(grace).wait()
