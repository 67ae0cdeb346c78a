"""The public Updates service: the last check's findings (read from state), a check on demand
(queued on `appos.updates`, or the one already queued or running: `updates/queue.py`; the worker
runs `updates/job.py`), and an app's update (a new version and its `update` deployment:
`updates/start.py`; the worker runs `update_run.py`)."""

from __future__ import annotations

import grpc

from appos.v1 import apps_pb2, state_pb2, updates_pb2, updates_pb2_grpc
from services.common.errors import FailedPrecondition
from services.common.grpc_server import actor
from services.common.names import validate_app_name
from services.common.state_client import StateClient
from services.deployer.updates import start
from services.deployer.updates.logins import RegistryLogins
from services.deployer.updates.queue import CheckQueue
from services.deployer.versions import Versions


class UpdatesServicer(updates_pb2_grpc.UpdatesServicer):
    def __init__(
        self,
        *,
        state: StateClient,
        checks: CheckQueue,
        versions: Versions | None = None,
        logins: RegistryLogins | None = None,
    ) -> None:
        self.state = state
        self.checks = checks
        self.versions = versions
        self.logins = logins

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
        job = self.checks.request(actor=actor(context), origin="request")
        return updates_pb2.CheckUpdatesReply(queued=True, id=job.id, joined=job.joined)

    def UpdateApp(
        self, request: updates_pb2.UpdateAppRequest, context: grpc.ServicerContext
    ) -> apps_pb2.AppActionReply:
        if self.versions is None:
            raise FailedPrecondition("updates are not available in this process")
        return start.start(
            versions=self.versions, request=start.UpdateRequest.from_pb(request), actor=actor(context)
        )

    def _logins(self) -> RegistryLogins:
        if self.logins is None:
            raise FailedPrecondition("registry logins are not available in this process")
        return self.logins

    def PutRegistryLogin(
        self, request: updates_pb2.PutRegistryLoginRequest, context: grpc.ServicerContext
    ) -> updates_pb2.RegistryLogin:
        return self._logins().put(
            registry=request.registry,
            username=request.username,
            password=request.password,
            actor=actor(context),
        )

    def ListRegistryLogins(
        self, request: updates_pb2.ListRegistryLoginsRequest, context: grpc.ServicerContext
    ) -> updates_pb2.ListRegistryLoginsReply:
        return self._logins().list()

    def DeleteRegistryLogin(
        self, request: updates_pb2.DeleteRegistryLoginRequest, context: grpc.ServicerContext
    ) -> updates_pb2.DeleteRegistryLoginReply:
        self._logins().delete(registry=request.registry, actor=actor(context))
        return updates_pb2.DeleteRegistryLoginReply()
