"""One factory for gRPC channels and stubs to the internal services. Every call site passes a timeout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from services.common.errors import APPOS_ERROR_KEY, AppOSError, error_from_status
from services.common.logs import request_id_var

# Reconnect fast after a service restarts: supervisord brings it back within a second or two, and
# gRPC's default backoff (up to two minutes) would keep the gateway answering 503 long after.
CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.max_receive_message_length", 32 * 1024 * 1024),
]

DEFAULT_TIMEOUT = 10.0


def unix_target(socket_path: Path) -> str:
    return f"unix:{socket_path}"


def sync_channel(socket_path: Path) -> grpc.Channel:
    return grpc.insecure_channel(unix_target(socket_path), options=CHANNEL_OPTIONS)


def aio_channel(socket_path: Path) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(unix_target(socket_path), options=CHANNEL_OPTIONS)


def call_metadata(**extra: str) -> tuple[tuple[str, str], ...]:
    """Metadata for an outgoing call: the current request id plus `extra` (e.g. the caller)."""
    pairs = [("x-request-id", request_id_var.get())]
    pairs.extend((f"x-appos-{key.replace('_', '-')}", value) for key, value in extra.items())
    return tuple(pairs)


def rpc_error(exc: Any, *, service: str) -> AppOSError:
    """The AppOSError for a failed call (sync or aio), keeping a service's own message."""
    trailing = dict(exc.trailing_metadata() or ())
    return error_from_status(
        exc.code(), exc.details(), service=service, from_appos=trailing.get(APPOS_ERROR_KEY) == "1"
    )


async def aio_call(
    method: Any, request: Any, *, service: str, timeout: float, metadata: tuple[tuple[str, str], ...] = ()
) -> Any:
    """Await one unary call; a failure becomes the matching AppOSError (see `error_from_status`)."""
    try:
        return await method(request, timeout=timeout, metadata=metadata or call_metadata())
    except grpc.aio.AioRpcError as exc:
        raise rpc_error(exc, service=service) from exc


def sync_call(
    method: Any, request: Any, *, service: str, timeout: float, metadata: tuple[tuple[str, str], ...] = ()
) -> Any:
    try:
        return method(request, timeout=timeout, metadata=metadata or call_metadata())
    except grpc.RpcError as exc:
        raise rpc_error(exc, service=service) from exc
