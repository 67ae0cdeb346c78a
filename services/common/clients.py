"""One factory for gRPC channels and stubs to the internal services. Every call site passes a timeout."""

from __future__ import annotations

import contextvars
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
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

# Who asked for the work in progress, as `x-appos-*` metadata: set by the gateway for a caller's
# request, taken from incoming metadata by every internal server (grpc_server.ErrorInterceptor), and
# sent on by `call_metadata`, so state learns the user, role, client address and audited action of a
# change however many services it passed through. Background work (watchers, the worker) has none.
ORIGIN_KEYS = (
    "x-appos-user",
    "x-appos-role",
    "x-appos-client",
    "x-appos-action",
    "x-appos-target",
    "x-appos-app",
    "x-appos-call",  # a nonce per audited call: state records each call once
)
origin_var: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar("origin", default=())

# Called after every unary call made with `aio_call`: (method, status code name, seconds).
CallObserver = Callable[[str, str, float], None]
_observer: list[CallObserver] = []


def observe_calls(observer: CallObserver) -> None:
    """Install the one process-wide observer of outgoing calls (the gateway's metrics)."""
    _observer[:] = [observer]


def origin_from(metadata: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The origin pairs in incoming metadata (values trimmed to a sane length)."""
    return tuple((key, str(metadata[key])[:256]) for key in ORIGIN_KEYS if metadata.get(key))


@contextmanager
def origin(pairs: tuple[tuple[str, str], ...]) -> Iterator[None]:
    token = origin_var.set(pairs)
    try:
        yield
    finally:
        origin_var.reset(token)


def unix_target(socket_path: Path) -> str:
    return f"unix:{socket_path}"


def sync_channel(socket_path: Path) -> grpc.Channel:
    return grpc.insecure_channel(unix_target(socket_path), options=CHANNEL_OPTIONS)


def aio_channel(socket_path: Path) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(unix_target(socket_path), options=CHANNEL_OPTIONS)


def call_metadata(**extra: str) -> tuple[tuple[str, str], ...]:
    """Metadata for an outgoing call: the current request id, the origin (see `origin_var`), and
    `extra` (e.g. the caller), which wins over the origin's value of the same key."""
    given = [(f"x-appos-{key.replace('_', '-')}", value) for key, value in extra.items()]
    keys = {key for key, _ in given}
    pairs = [("x-request-id", request_id_var.get())]
    pairs.extend(pair for pair in origin_var.get() if pair[0] not in keys)
    pairs.extend(given)
    return tuple(pairs)


def rpc_error(exc: Any, *, service: str) -> AppOSError:
    """The AppOSError for a failed call (sync or aio), keeping a service's own message."""
    trailing = dict(exc.trailing_metadata() or ())
    return error_from_status(
        exc.code(), exc.details(), service=service, from_appos=trailing.get(APPOS_ERROR_KEY) == "1"
    )


async def first_of(call: Any, *, service: str) -> tuple[Any | None, AsyncIterator[Any]]:
    """A server stream's first message (None when it ends at once) and an iterator over the rest.
    A failure before the first message is the matching AppOSError, raised while an HTTP answer can
    still carry its status."""
    iterator = call.__aiter__()
    try:
        return await iterator.__anext__(), iterator
    except StopAsyncIteration:
        return None, iterator
    except grpc.aio.AioRpcError as exc:
        raise rpc_error(exc, service=service) from exc


async def aio_call(
    method: Any, request: Any, *, service: str, timeout: float, metadata: tuple[tuple[str, str], ...] = ()
) -> Any:
    """Await one unary call; a failure becomes the matching AppOSError (see `error_from_status`)."""
    if not _observer:
        try:
            return await method(request, timeout=timeout, metadata=metadata or call_metadata())
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(exc, service=service) from exc
    start, code = time.perf_counter(), "OK"
    try:
        return await method(request, timeout=timeout, metadata=metadata or call_metadata())
    except grpc.aio.AioRpcError as exc:
        code = exc.code().name
        raise rpc_error(exc, service=service) from exc
    except BaseException:
        code = "CANCELLED"
        raise
    finally:
        name = getattr(method, "_method", b"")  # the multicallable's "/package.Service/Method"
        elapsed = time.perf_counter() - start
        _observer[0](name.decode() if isinstance(name, bytes) else str(name), code, elapsed)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, method: str, timeout: float, metadata: tuple[tuple[str, str], ...]) -> None:
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = None
        self.wait_for_ready = None
        self.compression = None


class CallDefaults(grpc.UnaryUnaryClientInterceptor):
    """What every synchronous unary call to an internal service gets, so a call site is just the typed
    stub call: a timeout (`timeout=` at the call site wins), the request id and origin as metadata
    (`metadata=` at the call site replaces them), and a failure raised as the matching AppOSError."""

    def __init__(self, *, service: str, timeout: float) -> None:
        self._service = service
        self._timeout = timeout

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        details = _CallDetails(
            client_call_details.method,
            client_call_details.timeout or self._timeout,
            tuple(client_call_details.metadata or ()) or call_metadata(),
        )
        outcome = continuation(details, request)
        failure = outcome.exception()  # waits for the reply; grpc re-raises what we raise here
        if isinstance(failure, grpc.RpcError):
            raise rpc_error(failure, service=self._service) from failure
        return outcome


def typed_channel(socket_path: Path, *, service: str, timeout: float = DEFAULT_TIMEOUT) -> grpc.Channel:
    """A channel for the generated (typed) stubs, with `CallDefaults` on every unary call."""
    return grpc.intercept_channel(sync_channel(socket_path), CallDefaults(service=service, timeout=timeout))


def sync_call(
    method: Any, request: Any, *, service: str, timeout: float, metadata: tuple[tuple[str, str], ...] = ()
) -> Any:
    try:
        return method(request, timeout=timeout, metadata=metadata or call_metadata())
    except grpc.RpcError as exc:
        raise rpc_error(exc, service=service) from exc
