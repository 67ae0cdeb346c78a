"""POST /api/v1/apps/{app}/update, the API's side: which tags (`target.py`), the new files
(`rewrite.py`), a new version checked as any deployed edit (`Versions.update`) with its `update`
deployment, queued. The worker runs the steps (`deployer/update_run.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from appos.v1 import apps_pb2, state_pb2, updates_pb2
from services.common.errors import FailedPrecondition
from services.common.names import validate_app_name
from services.deployer import validation
from services.deployer.update_run import REPORTED_BY
from services.deployer.updates import rewrite, target
from services.deployer.versions import Versions

# Succeeded deployments looked at for what the app runs now (newest first).
_LOOK_BACK = 20


@dataclass(frozen=True)
class UpdateRequest:
    app: str
    services: dict[str, str]
    allow_major: bool
    snapshot_volumes: bool

    @classmethod
    def from_pb(cls, request: updates_pb2.UpdateAppRequest) -> UpdateRequest:
        return cls(
            app=validate_app_name(request.app), services=dict(request.services),
            allow_major=request.allow_major,
            snapshot_volumes=request.snapshot_volumes if request.HasField("snapshot_volumes") else True,
        )  # fmt: skip


def running_digests(versions: Versions, app: str) -> dict[str, str]:
    """service → the digest the app's newest succeeded deployment that recorded images ran."""
    reply: apps_pb2.ListDeploymentsReply = versions.apps.state.stub.ListDeployments(
        state_pb2.StateListDeploymentsRequest(app=app, statuses=["succeeded"], page_size=_LOOK_BACK)
    )
    for deployment in reply.deployments:
        if deployment.images:
            return {i.service: i.digest for i in deployment.images}
    return {}


def refuse_unsettled(app: apps_pb2.App) -> None:
    """An update goes from the version the app runs, and falls back to it: the current version must
    be the last one that deployed successfully."""
    current, good = app.current_version, app.last_good_version
    if not good:
        raise FailedPrecondition(
            f"app {app.name} has never deployed successfully, so there is nothing to fall back to; "
            "deploy it first, then update"
        )
    if current != good:
        raise FailedPrecondition(
            f"app {app.name} runs v{good}, but v{current} is newer and not deployed (a deployment of it "
            f"is under way, or it failed); wait for it, or redeploy v{current} or roll back to v{good}, "
            "then update"
        )


def start(*, versions: Versions, request: UpdateRequest, actor: str) -> apps_pb2.AppActionReply:
    state = versions.apps.state
    record: state_pb2.AppRecord = state.stub.GetApp(state_pb2.StateGetAppRequest(name=request.app))
    for service, tag in request.services.items():
        rewrite.validate_tag(service, tag)  # before anything reads the files
    refuse_unsettled(record.app)
    config = validation.check(
        name=request.app, compose_text=record.compose, env_text=record.env,
        allowed=list(record.app.policy_exceptions), apps_dir=versions.apps.settings.apps_dir,
    ).config  # fmt: skip
    images = {
        service: str(spec.get("image"))
        for service, spec in (config.get("services") or {}).items()
        if isinstance(spec, dict) and spec.get("image") and not spec.get("build")
    }
    findings: updates_pb2.ListUpdatesReply = state.stub.ListUpdateChecks(
        state_pb2.StateListUpdateChecksRequest(app=request.app)
    )
    targets = target.choose(
        app=request.app, images=images, requested=request.services, allow_major=request.allow_major,
        findings=findings.updates, running=running_digests(versions, request.app),
    )  # fmt: skip
    files = rewrite.rewrite(record.compose, record.env, {t.service: t.tag for t in targets})
    options: dict[str, object] = {
        "reported_by": REPORTED_BY,  # its outcome is the update's event, not a plain deployment_failed
        "update": {
            "previous": record.app.current_version,
            "snapshot_volumes": request.snapshot_volumes,
            "targets": [
                {"service": t.service, "from": t.current_tag, "to": t.tag, "kind": t.kind, "image": t.image}
                for t in targets
            ],
        },
    }
    reply = versions.update(
        app=request.app, compose_text=files.compose, env_text=files.env,
        message=", ".join(t.words for t in targets), expected=record.app.current_version, actor=actor,
        options=options,
    )  # fmt: skip
    return apps_pb2.AppActionReply(app=reply.app, deployment=reply.deployment)
