"""The public Updates service: the last check's findings (read from state) and a check on demand
(queued on `appos.updates`; the worker runs `updates/job.py`)."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from appos.v1 import state_pb2, updates_pb2, updates_pb2_grpc
from services.common.grpc_server import actor
from services.common.names import validate_app_name
from services.common.state_client import StateClient


class UpdatesServicer(updates_pb2_grpc.UpdatesServicer):
    def __init__(self, *, state: StateClient, enqueue: Callable[[str, str], None]) -> None:
        self.state = state
        self.enqueue = enqueue  # (actor, origin)

    def ListUpdates(
        self, request: updates_pb2.ListUpdatesRequest, context: grpc.ServicerContext
    ) -> updates_pb2.ListUpdatesReply:
        reply: updates_pb2.ListUpdatesReply = self.state.stub.ListUpdateChecks(
            state_pb2.StateListUpdateChecksRequest()
        )
        return reply

    def ListAppUpdates(
        self, request: updates_pb2.ListAppUpdatesRequest, context: grpc.ServicerContext
    ) -> updates_pb2.ListUpdatesReply:
        reply: updates_pb2.ListUpdatesReply = self.state.stub.ListUpdateChecks(
            state_pb2.StateListUpdateChecksRequest(app=validate_app_name(request.app))
        )
        return reply

    def CheckUpdates(
        self, request: updates_pb2.CheckUpdatesRequest, context: grpc.ServicerContext
    ) -> updates_pb2.CheckUpdatesReply:
        self.enqueue(actor(context), "request")
        return updates_pb2.CheckUpdatesReply(queued=True)
