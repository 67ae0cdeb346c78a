"""Replies the gateway passes on from state as they are: state's reply bytes are read once, as the
public reply (the two share their wire layout: tests/unit/gateway/test_auth_replies.py), instead of
being read as state's message and copied or written and read again.

`AppList` answers Apps.ListApps from state: state's list is the public reply (each app with its
status, newest deployments and backup opt-in), so the hop through the deployer, which read, copied
and wrote again every app, is skipped. The role check is the gateway's as for any route; every
other Apps method goes to the deployer."""

from __future__ import annotations

from typing import Any

import grpc.aio
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from appos.v1 import apps_pb2, state_pb2
from services.common.clients import aio_call, call_metadata
from services.gateway.context import CallContext

_STATE = state_pb2.DESCRIPTOR.services_by_name["State"]


def reply_as(channel: grpc.aio.Channel, method: str, reply_class: type[Message]) -> Any:
    """State's unary `method` on `channel`, its reply read as `reply_class`."""
    descriptor = _STATE.methods_by_name[method]
    request_class = GetMessageClass(descriptor.input_type)
    return channel.unary_unary(
        f"/{_STATE.full_name}/{descriptor.name}",
        request_serializer=request_class.SerializeToString,
        response_deserializer=reply_class.FromString,
    )


class AppList:
    def __init__(self, *, state: grpc.aio.Channel, rpc_timeout: float) -> None:
        self._list = reply_as(state, "ListApps", apps_pb2.ListAppsReply)
        self._timeout = rpc_timeout

    async def ListApps(self, request: apps_pb2.ListAppsRequest, ctx: CallContext) -> apps_pb2.ListAppsReply:
        reply: apps_pb2.ListAppsReply = await aio_call(
            self._list,
            state_pb2.StateListAppsRequest(),
            service="state",
            timeout=self._timeout,
            metadata=call_metadata(),
        )
        return reply
