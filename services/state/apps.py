"""Apps as state knows them: name, origin, files, and the runtime status the deployer reports."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from appos.v1 import apps_pb2
from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.common.names import validate_app_name
from services.common.timestamps import now_us
from services.state import events
from services.state.models import App, ConfigVersion, Deployment, Setting

APP_STATUSES = ("deploying", "running", "partially_running", "stopped", "unhealthy", "failed")
# Actions that are meant to leave the app running: when one failed and it is not, the app failed.
_STARTS = ("deploy", "redeploy", "start", "restart")
_APPLIES_VERSION = ("deploy", "redeploy")


def get_app(*, session: Session, name: str) -> App:
    app = session.get(App, name)
    if app is None:
        raise NotFound(f"app {name!r} does not exist")
    return app


def list_apps(*, session: Session) -> list[App]:
    return list(session.scalars(select(App).order_by(App.name)))


def effective_status(*, runtime: str, message: str, last: Deployment | None) -> tuple[str, str]:
    """(status, message) of an app from what its containers say (`runtime`) and its newest
    deployment: a deploy under way is "deploying"; a deploy, start or restart that failed and left
    the app not running is "failed" with the deployment's reason (an image that was never pulled
    leaves no containers: Docker alone would say "stopped")."""
    if last is None:
        return runtime, message
    if last.status in ("pending", "running") and last.action in _APPLIES_VERSION:
        return "deploying", f"deploying version {last.version}" if last.version else ""
    if last.status == "failed" and last.action in _STARTS and runtime != "running":
        return "failed", last.reason or f"the {last.action} failed"
    return runtime, message


def _newest(session: Session, app: str, actions: tuple[str, ...] = ()) -> Deployment | None:
    query = select(Deployment).where(Deployment.app == app)
    if actions:
        query = query.where(Deployment.action.in_(actions))
    query = query.order_by(Deployment.created_at.desc(), Deployment.id.desc()).limit(1)
    return session.scalars(query).first()


def app_pb(*, session: Session, app: App) -> apps_pb2.App:
    """The app as clients see it: its status from its containers and its newest deployment, which
    it carries too (and the newest one that applied a version)."""
    pb = app.to_pb()
    last = _newest(session, app.name)
    pb.status, pb.status_message = effective_status(runtime=app.status, message=app.status_message, last=last)
    if last is not None:
        pb.last_deployment.CopyFrom(last.to_pb())
        applied = last if last.action in _APPLIES_VERSION else _newest(session, app.name, _APPLIES_VERSION)
        if applied is not None:
            pb.last_version_deployment.CopyFrom(applied.to_pb())
    return pb


def create_app(
    *,
    session: Session,
    name: str,
    template: str,
    compose: str,
    env: str,
    web_service: str,
    web_port: int,
    actor: str,
) -> App:
    validate_app_name(name)
    if session.get(App, name) is not None:
        raise AlreadyExists(f"app {name!r} already exists")
    now = now_us()
    app = App(
        name=name,
        template=template,
        status="deploying",
        status_message="",
        services_json="[]",
        compose=compose,
        env=env,
        web_service=web_service,
        web_port=web_port,
        current_version=0,
        created_at=now,
        updated_at=now,
    )
    session.add(app)
    events.emit(
        session=session, type="app_created", subject=name, actor=actor, payload={"template": template}
    )
    return app


def update_runtime(
    *, session: Session, name: str, status: str, status_message: str, services: Iterable[dict[str, Any]]
) -> App:
    """Record what Docker says about the app; an event only when something changed."""
    if status not in APP_STATUSES:
        raise InvalidArgument(f"app status must be one of {', '.join(APP_STATUSES)}")
    app = get_app(session=session, name=name)
    services_json = json.dumps(sorted(services, key=lambda s: (s["service"], s["container"])), sort_keys=True)
    if (app.status, app.status_message, app.services_json) == (status, status_message, services_json):
        return app
    status_changed = app.status != status
    app.status, app.status_message, app.services_json = status, status_message, services_json
    app.updated_at = now_us()
    events.emit(
        session=session,
        type="app_status" if status_changed else "app_containers",
        subject=name,
        actor="deployer",
        payload={"status": status, "message": status_message},
    )
    return app


def delete_app(*, session: Session, name: str, actor: str) -> App:
    app = get_app(session=session, name=name)
    session.execute(delete(ConfigVersion).where(ConfigVersion.app == name))
    # its options kept as settings (the backups' volume opt-in): a new app of that name starts clean
    session.execute(delete(Setting).where(Setting.key == f"backup.volumes.{name}"))
    session.delete(app)
    events.emit(session=session, type="app_deleted", subject=name, actor=actor, payload={})
    return app
