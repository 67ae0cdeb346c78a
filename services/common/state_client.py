"""Synchronous calls to the internal State service (deployer, worker): one channel, every call with
a timeout, failures as AppOSError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appos.v1 import state_pb2_grpc
from services.common.clients import call_metadata, sync_call, sync_channel


class StateClient:
    def __init__(self, socket_path: Path, *, timeout: float = 10.0) -> None:
        self._channel = sync_channel(socket_path)
        self._stub = state_pb2_grpc.StateStub(self._channel)
        self._timeout = timeout

    def call(
        self,
        method: str,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> Any:
        """`metadata` replaces the usual (`call_metadata()`: the request id and origin)."""
        return sync_call(
            getattr(self._stub, method),
            request,
            service="state",
            timeout=timeout or self._timeout,
            metadata=metadata or call_metadata(),
        )

    def close(self) -> None:
        self._channel.close()
