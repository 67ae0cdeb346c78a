"""The typed state client against a real gRPC server on a Unix socket: every call gets the default
timeout and the request id unless the call site gives its own, and a failure is an AppOSError."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from appos.v1 import common_pb2, state_pb2
from services.common.errors import NotFound, Unavailable
from services.common.logs import request_id_var
from services.common.state_client import StateClient

Seen = dict[str, Any]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, list[Seen]]]:
    seen: list[Seen] = []

    def get_user(request: state_pb2.StateGetUserRequest, context: grpc.ServicerContext) -> common_pb2.User:
        seen.append({"remaining": context.time_remaining(), "metadata": dict(context.invocation_metadata())})
        if request.username == "ghost":
            context.abort(grpc.StatusCode.NOT_FOUND, "no user ghost")
        return common_pb2.User(username=request.username)

    handler = grpc.method_handlers_generic_handler(
        "appos.v1.State",
        {
            "GetUser": grpc.unary_unary_rpc_method_handler(
                get_user,
                request_deserializer=state_pb2.StateGetUserRequest.FromString,
                response_serializer=common_pb2.User.SerializeToString,
            )
        },
    )
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    grpc_server.add_generic_rpc_handlers((handler,))
    socket = tmp_path / "state.sock"
    grpc_server.add_insecure_port(f"unix:{socket}")
    grpc_server.start()
    yield socket, seen
    grpc_server.stop(None)


def test_a_call_gets_the_default_timeout_and_the_request_id(server: tuple[Path, list[Seen]]) -> None:
    socket, seen = server
    client = StateClient(socket, timeout=7)
    token = request_id_var.set("req-42")
    try:
        user = client.stub.GetUser(state_pb2.StateGetUserRequest(username="ada"))
    finally:
        request_id_var.reset(token)
    assert user.username == "ada"
    assert 5 < seen[0]["remaining"] <= 7
    assert seen[0]["metadata"]["x-request-id"] == "req-42"
    client.close()


def test_the_call_site_timeout_and_metadata_win(server: tuple[Path, list[Seen]]) -> None:
    socket, seen = server
    client = StateClient(socket, timeout=7)
    client.stub.GetUser(
        state_pb2.StateGetUserRequest(username="ada"), timeout=60, metadata=(("x-appos-user", "bob"),)
    )
    assert seen[0]["remaining"] > 30
    assert seen[0]["metadata"]["x-appos-user"] == "bob"
    assert "x-request-id" not in seen[0]["metadata"]
    client.close()


def test_a_failure_is_the_matching_appos_error(server: tuple[Path, list[Seen]], tmp_path: Path) -> None:
    socket, _ = server
    client = StateClient(socket)
    with pytest.raises(NotFound, match="no user ghost"):
        client.stub.GetUser(state_pb2.StateGetUserRequest(username="ghost"))
    client.close()
    nobody = StateClient(tmp_path / "nothing.sock", timeout=1)
    with pytest.raises(Unavailable):
        nobody.stub.GetUser(state_pb2.StateGetUserRequest(username="ada"))
    nobody.close()
