"""Apps as state knows them: name, origin, files, and the runtime status the deployer reports."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.common.names import validate_app_name
from services.common.timestamps import now_us
from services.state import events
from services.state.models import App, ConfigVersion, Setting

APP_STATUSES = ("deploying", "running", "partially_running", "stopped", "unhealthy", "failed")


def get_app(*, session: Session, name: str) -> App:
    app = session.get(App, name)
    if app is None:
        raise NotFound(f"app {name!r} does not exist")
    return app


def list_apps(*, session: Session) -> list[App]:
    return list(session.scalars(select(App).order_by(App.name)))


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
