"""`app_unhealthy` events from Docker's event stream: a container whose health check turned
unhealthy, that crashed (a non-zero exit that is not a stop) or ran out of memory — outside a
deployment (a failed deployment is reported as such). One event per app service per quiet period."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from appos.v1 import apps_pb2, state_pb2
from services.common.errors import AppOSError
from services.common.labels import PROJECT_LABEL, SERVICE_LABEL, app_of_project, is_oneoff
from services.common.state_client import StateClient
from services.common.timestamps import MICROS, ts_us
from services.notify.events import APP_UNHEALTHY

logger = logging.getLogger(__name__)

# Exit codes of a container that was stopped (SIGTERM, or SIGKILL after the stop timeout), not crashed.
STOPPED_CODES = (0, 137, 143)
# A Docker event this close after a deployment ended still belongs to it.
DEPLOYMENT_SLACK_US = 1 * MICROS


@dataclass(frozen=True)
class Trouble:
    app: str
    service: str
    container: str
    reason: str
    exit_code: int
    at_us: int

    def payload(self) -> dict[str, Any]:
        return {
            "app": self.app, "service": self.service, "container": self.container,
            "reason": self.reason, "exit_code": self.exit_code,
        }  # fmt: skip


def classify(event: dict[str, Any]) -> Trouble | None:
    """The trouble a Docker container event reports, or None for a normal one."""
    action = str(event.get("Action", ""))
    attrs = event.get("Actor", {}).get("Attributes", {}) or {}
    app = app_of_project(str(attrs.get(PROJECT_LABEL, "")))
    if not app or is_oneoff(attrs):
        return None
    service = str(attrs.get(SERVICE_LABEL, "")) or "?"
    exit_code = 0
    if action.startswith("health_status") and action.partition(":")[2].strip() == "unhealthy":
        reason = f"service {service} is unhealthy"
    elif action == "die":
        try:
            exit_code = int(attrs.get("exitCode", 0))
        except (TypeError, ValueError):
            return None
        if exit_code in STOPPED_CODES:
            return None
        reason = f"service {service} exited with code {exit_code}"
    elif action == "oom":
        reason = f"service {service} ran out of memory"
    else:
        return None
    at_ns = event.get("timeNano") or int(event.get("time", 0)) * 1_000_000_000
    return Trouble(
        app=app, service=service, container=str(attrs.get("name", "")),
        reason=reason, exit_code=exit_code, at_us=int(at_ns) // 1000,
    )  # fmt: skip


def during_deployment(deployment: apps_pb2.Deployment | None, at_us: int) -> bool:
    """Whether trouble at `at_us` is part of this (the app's newest) deployment."""
    if deployment is None:
        return False
    if deployment.status in ("pending", "running"):
        return True
    started = ts_us(deployment.started_at) if deployment.HasField("started_at") else 0
    finished = ts_us(deployment.finished_at) if deployment.HasField("finished_at") else 0
    return bool(started) and started <= at_us <= finished + DEPLOYMENT_SLACK_US


class UnhealthyReporter:
    def __init__(self, *, state: StateClient, redis: Redis, quiet_seconds: int) -> None:
        self.state = state
        self.redis = redis
        self.quiet_seconds = quiet_seconds

    def observe(self, event: dict[str, Any]) -> None:
        trouble = classify(event)
        if trouble is None:
            return
        try:
            self._report(trouble)
        except (AppOSError, RedisError) as exc:
            logger.warning("could not report that %s of %s: %s", trouble.reason, trouble.app, exc)

    def _report(self, trouble: Trouble) -> None:
        reply: apps_pb2.ListDeploymentsReply = self.state.stub.ListDeployments(
            state_pb2.StateListDeploymentsRequest(app=trouble.app, page_size=1)
        )
        newest = reply.deployments[0] if reply.deployments else None
        if during_deployment(newest, trouble.at_us):
            return
        key = f"appos:notify:unhealthy:{trouble.app}:{trouble.service}"
        if not self.redis.set(key, "1", nx=True, ex=self.quiet_seconds):
            return  # said already (a crash loop is one notification per quiet period)
        self.state.stub.AppendEvent(
            state_pb2.StateAppendEventRequest(
                type=APP_UNHEALTHY,
                subject=trouble.app,
                actor="deployer",
                payload_json=json.dumps(trouble.payload(), sort_keys=True),
            ),  # fmt: skip
        )
        logger.warning("app %s: %s", trouble.app, trouble.reason)
