"""A deployment once state has it: onto the task queue (or failed, when the queue is down), and
cancelled (before it starts, by state; while it runs, by the worker, told through Redis)."""

from __future__ import annotations

from collections.abc import Callable

from appos.v1 import apps_pb2, state_pb2
from services.common.errors import Conflict, FailedPrecondition, Unavailable
from services.common.state_client import StateClient
from services.deployer.executor import cancel_key


def queue(
    *, state: StateClient, enqueue: Callable[[str, str], None], created: state_pb2.StateAppDeployment
) -> state_pb2.StateAppDeployment:
    """Hand a pending deployment to the worker, on the queue of the app's server (`enqueue(id,
    server)`); when the broker does not take it, the deployment ends as failed (it would otherwise
    wait for ever) and the caller gets Unavailable."""
    try:
        enqueue(created.deployment.id, created.app.server)
    except Exception as exc:  # noqa: BLE001 - the broker's errors vary; the deployment must end
        state.stub.TransitionDeployment(
            state_pb2.StateTransitionDeploymentRequest(
                id=created.deployment.id,
                from_statuses=["pending"],
                to_status="failed",
                reason="the task queue (redis) is unavailable",
            ),
        )
        raise Unavailable("the task queue (redis) is unavailable; try again shortly") from exc
    return created


def cancel(
    *, state: StateClient, redis_set: Callable[[str], None], deployment_id: str, actor: str
) -> apps_pb2.Deployment:
    """A pending deployment is cancelled at once; a running one is told to stop (its worker ends it);
    one that has ended cannot be cancelled."""
    deployment = state.stub.GetDeployment(apps_pb2.GetDeploymentRequest(id=deployment_id)).deployment
    if deployment.status == "pending":
        try:
            moved: apps_pb2.Deployment = state.stub.TransitionDeployment(
                state_pb2.StateTransitionDeploymentRequest(
                    id=deployment.id,
                    from_statuses=["pending"],
                    to_status="cancelled",
                    reason=f"cancelled by {actor} before it started",
                ),
            )
            return moved
        except Conflict:  # it started meanwhile: cancel the running one below
            deployment = state.stub.GetDeployment(apps_pb2.GetDeploymentRequest(id=deployment_id)).deployment
    if deployment.status == "running":
        redis_set(cancel_key(deployment.id))
        return deployment
    raise FailedPrecondition(f"deployment {deployment.id} is already {deployment.status}")
