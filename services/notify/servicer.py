"""The public Notifications service (served by the deployer, reached through the gateway)."""

from __future__ import annotations

import json

import grpc

from appos.v1 import notifications_pb2, notifications_pb2_grpc, state_pb2
from services.common.grpc_server import actor
from services.common.names import validate_dns_label
from services.common.state_client import StateClient
from services.notify import targets
from services.notify.delivery import delivery_pb, record_delivery
from services.notify.events import KINDS, make_test_notification
from services.notify.send import deliver


class NotificationsServicer(notifications_pb2_grpc.NotificationsServicer):
    def __init__(self, *, state: StateClient, test_timeout_seconds: float) -> None:
        self.state = state
        self.test_timeout = test_timeout_seconds

    def _get(self, name: str) -> state_pb2.StateNotificationTarget:
        validate_dns_label(name, what="target name")
        target: state_pb2.StateNotificationTarget = self.state.stub.GetNotificationTarget(
            state_pb2.StateGetNotificationTargetRequest(name=name)
        )
        return target

    def CreateTarget(
        self, request: notifications_pb2.NotificationTargetSpec, context: grpc.ServicerContext
    ) -> notifications_pb2.NotificationTarget:
        spec = targets.from_spec(request)
        created = self.state.stub.CreateNotificationTarget(
            state_pb2.StateNotificationTargetRequest(target=spec.to_state(), actor=actor(context)),
        )
        return targets.to_public(created)

    def ListTargets(
        self, request: notifications_pb2.ListNotificationTargetsRequest, context: grpc.ServicerContext
    ) -> notifications_pb2.ListNotificationTargetsReply:
        reply: state_pb2.StateListNotificationTargetsReply = self.state.stub.ListNotificationTargets(
            state_pb2.StateListNotificationTargetsRequest()
        )
        return notifications_pb2.ListNotificationTargetsReply(
            targets=[targets.to_public(t) for t in reply.targets], event_kinds=KINDS
        )

    def GetTarget(
        self, request: notifications_pb2.GetNotificationTargetRequest, context: grpc.ServicerContext
    ) -> notifications_pb2.NotificationTarget:
        return targets.to_public(self._get(request.name))

    def UpdateTarget(
        self, request: notifications_pb2.NotificationTargetSpec, context: grpc.ServicerContext
    ) -> notifications_pb2.NotificationTarget:
        spec = targets.from_spec(request, self._get(request.name))
        updated = self.state.stub.UpdateNotificationTarget(
            state_pb2.StateNotificationTargetRequest(target=spec.to_state(), actor=actor(context)),
        )
        return targets.to_public(updated)

    def DeleteTarget(
        self, request: notifications_pb2.DeleteNotificationTargetRequest, context: grpc.ServicerContext
    ) -> notifications_pb2.NotificationTarget:
        validate_dns_label(request.name, what="target name")
        deleted = self.state.stub.DeleteNotificationTarget(
            state_pb2.StateDeleteNotificationTargetRequest(name=request.name, actor=actor(context)),
        )
        return targets.to_public(deleted)

    def TestTarget(
        self, request: notifications_pb2.TestNotificationTargetRequest, context: grpc.ServicerContext
    ) -> notifications_pb2.NotificationDelivery:
        """One attempt now, whatever the target subscribes to (and even when it is disabled)."""
        target = self._get(request.name)
        note = make_test_notification(target.name)
        result = deliver(
            target.kind, json.loads(target.config_json or "{}"), note,
            delivery_id=f"test-{note.occurred_at}-{target.name}", timeout=self.test_timeout,
        )  # fmt: skip
        status = "delivered" if result.ok else "failed"
        delivery = delivery_pb(target=target.name, note=note, result=result, attempts=1, status=status)
        record_delivery(self.state, delivery, final_failure=False)
        return delivery
