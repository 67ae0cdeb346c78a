"""The update check of every app (the `appos.updates` queue's task):

    apps → each app's newest succeeded deployment that recorded images → each service's image
    checked (`check_image`) → findings → state (one RecordUpdateCheck: rows, `update_available`,
    `updates_checked`)

and one app's check again after its update succeeded (`recheck_app`, run by `update_run.py`).

One app never stops the others: a registry failure is that service's `unknown` with the reason
(check_image never raises for one), and anything else that goes wrong for an app is logged and that
app keeps its previous findings. An image with no registry digest (built here, never pulled) is
`unknown`: "built locally, no registry to compare with". An app that never deployed successfully has
nothing to check."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from appos.v1 import apps_pb2, state_pb2, updates_pb2
from services.common.state_client import StateClient
from services.deployer.updates.check import ImageCheck, check_image
from services.deployer.updates.registry import RegistryClient

logger = logging.getLogger(__name__)

BUILT_LOCALLY = "built locally, no registry to compare with"
# Succeeded deployments read per app to find the newest one that recorded images (a stop records none).
_RECENT = 20


class Checker(Protocol):
    def __call__(self, *, client: RegistryClient, image: str, running_digest: str | None) -> ImageCheck: ...


def ran_images(state: StateClient, app: str) -> list[apps_pb2.ServiceImage]:
    """What the app's newest succeeded deployment that recorded images ran (empty: none did)."""
    reply: apps_pb2.ListDeploymentsReply = state.stub.ListDeployments(
        state_pb2.StateListDeploymentsRequest(app=app, statuses=["succeeded"], page_size=_RECENT)
    )
    return next((list(d.images) for d in reply.deployments if d.images), [])


def findings(
    check: ImageCheck, image: apps_pb2.ServiceImage, *, app: str
) -> Iterable[updates_pb2.ImageUpdate]:
    """The rows one service's check gives: one per update found, or one `unknown` with the reason."""
    tag = check.current_tag or ""
    if check.error is not None:
        yield updates_pb2.ImageUpdate(
            app=app, service=image.service, image=image.image, current_tag=tag,
            current_digest=image.digest, kind="unknown", reason=check.error,
        )  # fmt: skip
        return
    for update in check.updates:
        yield updates_pb2.ImageUpdate(
            app=app, service=image.service, image=image.image, current_tag=tag,
            current_digest=image.digest, candidate_tag=update.tag, candidate_digest=update.digest,
            kind=update.kind.value,
        )  # fmt: skip


def check_app(
    *,
    state: StateClient,
    client: RegistryClient,
    app: str,
    checker: Checker = check_image,
    running: list[apps_pb2.ServiceImage] | None = None,
) -> state_pb2.StateAppUpdateCheck:
    """`running`: what the app runs (default: what its newest succeeded deployment recorded)."""
    found: list[updates_pb2.ImageUpdate] = []
    for image in ran_images(state, app) if running is None else running:
        if not image.image or not image.digest or image.digest == image.image_id:
            found.append(
                updates_pb2.ImageUpdate(
                    app=app,
                    service=image.service,
                    image=image.image,
                    current_digest=image.digest,
                    kind="unknown",
                    reason=BUILT_LOCALLY,
                )  # fmt: skip
            )
            continue
        result = checker(client=client, image=image.image, running_digest=image.digest)
        found.extend(findings(result, image, app=app))
    return state_pb2.StateAppUpdateCheck(app=app, updates=found)


def check_apps(
    *, state: StateClient, make_client: Callable[[], RegistryClient], checker: Checker = check_image
) -> list[state_pb2.StateAppUpdateCheck]:
    """Every app's findings (an app whose check raised is left out: it keeps its previous ones)."""
    apps: state_pb2.StateListAppsReply = state.stub.ListApps(state_pb2.StateListAppsRequest())
    checks: list[state_pb2.StateAppUpdateCheck] = []
    with make_client() as client:  # one client: tokens and the loopback scheme are remembered
        for app in apps.apps:
            try:
                checks.append(check_app(state=state, client=client, app=app.name, checker=checker))
            except Exception:  # one app never stops the others; it keeps its previous findings
                logger.exception("update check of app %s failed", app.name)
    return checks


def record(
    *, state: StateClient, checks: list[state_pb2.StateAppUpdateCheck], actor: str, origin: str, job: str = ""
) -> state_pb2.StateRecordUpdateCheckReply:
    """The findings into state (`job`: the check's id, named in `updates_checked`); its counts."""
    reply: state_pb2.StateRecordUpdateCheckReply = state.stub.RecordUpdateCheck(
        state_pb2.StateRecordUpdateCheckRequest(apps=checks, actor=actor, origin=origin, job=job)
    )
    logger.info(
        "update check %s (%s): %d apps, %d updates (%d new), %d unknown",
        job or "-", origin, reply.apps, reply.updates, reply.new_updates, reply.unknown,
    )  # fmt: skip
    return reply


def check_all(
    *,
    state: StateClient,
    make_client: Callable[[], RegistryClient],
    actor: str,
    origin: str,
    job: str = "",
    checker: Checker = check_image,
) -> state_pb2.StateRecordUpdateCheckReply:
    """Check every app and record what was found; the reply has the counts state recorded."""
    checks = check_apps(state=state, make_client=make_client, checker=checker)
    return record(state=state, checks=checks, actor=actor, origin=origin, job=job)


def recheck_app(
    *,
    state: StateClient,
    make_client: Callable[[], RegistryClient],
    app: str,
    running: list[apps_pb2.ServiceImage],
    actor: str,
    checker: Checker = check_image,
) -> state_pb2.StateRecordUpdateCheckReply:
    """One app checked again for what it runs now, recorded like a check (origin `update`): after an
    update succeeded, so the list stops offering what it just installed (its deployment is not
    recorded as succeeded yet, hence `running`)."""
    with make_client() as client:
        check = check_app(state=state, client=client, app=app, checker=checker, running=running)
    return record(state=state, checks=[check], actor=actor, origin="update")
