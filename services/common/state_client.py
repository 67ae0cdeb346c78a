"""Synchronous calls to the internal State service (deployer, notify, proxyctl, terminal): one channel
and the generated typed stub, so `mypy --strict` checks every call (`state.stub.ListDomains(request)`).
Every call gets a timeout, the request id and origin as metadata, and a failure raised as
AppOSError (`clients.CallDefaults`)."""

from __future__ import annotations

from pathlib import Path

from appos.v1 import state_pb2_grpc
from services.common.clients import typed_channel


class StateClient:
    def __init__(self, socket_path: Path, *, timeout: float = 10.0) -> None:
        self._channel = typed_channel(socket_path, service="state", timeout=timeout)
        self.stub = state_pb2_grpc.StateStub(self._channel)

    def close(self) -> None:
        self._channel.close()
