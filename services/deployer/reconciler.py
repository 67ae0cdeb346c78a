"""Nothing stays `running` or `pending` forever: deployments whose worker is gone are retried or
failed with a reason. Runs in the deployer, at start and every APPOS_RECONCILE_INTERVAL_SECONDS."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable

from redis import Redis

from appos.v1 import apps_pb2, state_pb2
from services.common.errors import AppOSError, Conflict
from services.common.state_client import StateClient
from services.common.timestamps import MICROS, now_us, ts_us
from services.deployer.executor import alive_key
from services.deployer.settings import DeployerSettings

logger = logging.getLogger(__name__)

# A pending deployment nobody has picked up for this long is queued again (the queue may have
# lost it, e.g. Redis died before writing its AOF).
PENDING_REQUEUE_SECONDS = 120


class Reconciler:
    def __init__(
        self,
        *,
        settings: DeployerSettings,
        state: StateClient,
        redis: Redis,
        enqueue: Callable[[str, str], None],  # (deployment id, its app's server)
    ) -> None:
        self.settings = settings
        self.state = state
        self.redis = redis
        self.enqueue = enqueue

    def _unfinished(self, status: str) -> list[apps_pb2.Deployment]:
        reply: apps_pb2.ListDeploymentsReply = self.state.stub.ListDeployments(
            state_pb2.StateListDeploymentsRequest(statuses=[status], page_size=500)
        )
        return list(reply.deployments)

    def _servers(self) -> dict[str, str]:
        """Each app's server (a deployment goes back on the queue of its app's server)."""
        reply: state_pb2.StateListAppsReply = self.state.stub.ListApps(state_pb2.StateListAppsRequest())
        return {app.name: app.server for app in reply.apps}

    def _move(self, deployment: apps_pb2.Deployment, to: str, reason: str) -> bool:
        try:
            self.state.stub.TransitionDeployment(
                state_pb2.StateTransitionDeploymentRequest(
                    id=deployment.id, from_statuses=[deployment.status], to_status=to, reason=reason
                ),
            )
        except Conflict:
            return False  # it moved on by itself meanwhile
        return True

    def _update_failed(self, deployment: apps_pb2.Deployment) -> None:
        message = (
            f"the update of {deployment.app} (deployment {deployment.id}) failed: its worker stopped "
            f"{deployment.attempt} times; the app may run either version: look at its state"
        )
        payload = {"app": deployment.app, "deployment": deployment.id, "message": message, "step": ""}
        try:
            self.state.stub.AppendEvent(
                state_pb2.StateAppendEventRequest(
                    type="update_failed", subject=deployment.app, actor="deployer",
                    payload_json=json.dumps(payload),
                )
            )  # fmt: skip
        except AppOSError:
            logger.warning("app %s: could not record update_failed", deployment.app, exc_info=True)

    def run_once(self) -> None:
        now = now_us()
        grace = self.settings.heartbeat_ttl_seconds * MICROS
        servers = functools.cache(self._servers)  # read once a run, when something is queued again
        for deployment in self._unfinished("running"):
            if self.redis.exists(alive_key(deployment.id)) or now - ts_us(deployment.started_at) < grace:
                continue
            if deployment.attempt < self.settings.max_attempts:
                if self._move(
                    deployment, "pending", f"the worker stopped during attempt {deployment.attempt}; retrying"
                ):
                    logger.warning("deployment %s lost its worker; queued again", deployment.id)
                    self.enqueue(deployment.id, servers().get(deployment.app, ""))
            elif self._move(
                deployment,
                "failed",
                f"the worker stopped during this deployment {deployment.attempt} times; giving up",
            ):
                logger.warning(
                    "deployment %s failed after %d lost workers", deployment.id, deployment.attempt
                )
                if deployment.action == "update":  # its own failure notifies nobody: the update tells
                    self._update_failed(deployment)
        for deployment in self._unfinished("pending"):
            waited = now - ts_us(deployment.created_at)
            if self.redis.exists(alive_key(deployment.id)) or waited < PENDING_REQUEUE_SECONDS * MICROS:
                continue
            if self.redis.set(
                f"appos:deployment:{deployment.id}:requeued", "1", nx=True, ex=PENDING_REQUEUE_SECONDS
            ):
                logger.warning("deployment %s was never picked up; queued again", deployment.id)
                self.enqueue(deployment.id, servers().get(deployment.app, ""))
