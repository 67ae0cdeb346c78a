"""Apps as state knows them: name, origin, files, and the runtime status the deployer reports."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.orm import Session, aliased

from appos.v1 import apps_pb2
from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.common.names import validate_app_name
from services.common.timestamps import now_us
from services.state import events
from services.state.models import (
    APP_COLUMNS,
    DEPLOYMENT_COLUMNS,
    App,
    ConfigVersion,
    Deployment,
    ImageUpdateRow,
    Setting,
    fill_app,
    fill_deployment,
)

APP_STATUSES = ("deploying", "running", "partially_running", "stopped", "unhealthy", "failed")
# Actions that are meant to leave the app running: when one failed and it is not, the app failed.
_STARTS = ("deploy", "redeploy", "start", "restart", "update")
_APPLIES_VERSION = ("deploy", "redeploy", "update")
# The setting `<prefix><app>` = true: the app's named volumes go into backups (the deployer sets it).
BACKUP_VOLUMES = "backup.volumes."


def get_app(*, session: Session, name: str) -> App:
    app = session.get(App, name)
    if app is None:
        raise NotFound(f"app {name!r} does not exist")
    return app


def list_apps(*, session: Session) -> list[App]:
    return list(session.scalars(select(App).order_by(App.name)))


class DeploymentFacts(Protocol):
    """What a status needs of a deployment: the ORM object and its message both have it."""

    @property
    def action(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def version(self) -> int: ...


def effective_status(*, runtime: str, message: str, last: DeploymentFacts | None) -> tuple[str, str]:
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
    pb.backup_volumes = app.name in _backup_volumes(session, _OPTED_ONE, {"key": BACKUP_VOLUMES + app.name})
    last = _newest(session, app.name)
    pb.status, pb.status_message = effective_status(runtime=app.status, message=app.status_message, last=last)
    if last is not None:
        pb.last_deployment.CopyFrom(last.to_pb())
        applied = last if last.action in _APPLIES_VERSION else _newest(session, app.name, _APPLIES_VERSION)
        if applied is not None:
            pb.last_version_deployment.CopyFrom(applied.to_pb())
    return pb


def _newest_ids(actions: tuple[str, ...] = ()) -> Select[tuple[str]]:
    """The id of each app's newest deployment (of `actions`, if given): one index look-up per app."""
    d = aliased(Deployment)
    newest = select(d.id).where(d.app == App.name)
    if actions:
        newest = newest.where(d.action.in_(actions))
    newest = newest.order_by(d.created_at.desc(), d.id.desc()).limit(1).correlate(App)
    return select(newest.scalar_subquery()).select_from(App)


# Built once (a select's construction costs more than a small read).
_SETTINGS = select(Setting.key, Setting.value_json)
_OPTED = _SETTINGS.where(Setting.key.startswith(BACKUP_VOLUMES, autoescape=True))
_OPTED_ONE = _SETTINGS.where(Setting.key == bindparam("key"))


def _backup_volumes(
    session: Session, query: Select[str, str], params: dict[str, str] | None = None
) -> set[str]:
    """The apps whose volumes are opted into backups (of the settings `query` reads)."""
    rows = session.connection().execute(query, params)
    return {key.removeprefix(BACKUP_VOLUMES) for key, value in rows if json.loads(value or "null")}


_APPS = select(*APP_COLUMNS).order_by(App.name)
_NEWEST = select(*DEPLOYMENT_COLUMNS).where(Deployment.id.in_(_newest_ids()))
_NEWEST_APPLYING = select(*DEPLOYMENT_COLUMNS).where(Deployment.id.in_(_newest_ids(_APPLIES_VERSION)))


class AppMessages:
    """Listed apps' messages by everything each is made of: its row, its newest and newest
    version-applying deployments' rows, its backup opt-in. An app whose rows did not change since a
    list read them is added from its bytes (about 1 µs) instead of filled again (about 20 µs); the
    rows are still read every time. Emptied past `limit` entries; the servicer owns one."""

    def __init__(self, limit: int = 4096) -> None:
        self.found: dict[tuple[Any, ...], bytes] = {}
        self.limit = limit

    def put(self, key: tuple[Any, ...], message: apps_pb2.App) -> None:
        if len(self.found) >= self.limit:
            self.found.clear()
        self.found[key] = message.SerializeToString()


def fill_app_list(
    into: RepeatedCompositeFieldContainer[apps_pb2.App], *, session: Session, memo: AppMessages | None = None
) -> None:
    """Every app as `app_pb` makes it, added to a reply's repeated field in place (copying a
    thousand messages into a reply costs about as much as filling them), in four reads whatever
    the number of apps (`app_pb` for each app reads its newest deployments: 2,000 queries for 1,000)."""
    connection = session.connection()
    # rows of DEPLOYMENT_COLUMNS by app (a Row's values by position: by name costs ~1 µs each)
    newest = {row[1]: row for row in connection.execute(_NEWEST).all()}
    applying: dict[str, Any] = {}
    if any(row[2] not in _APPLIES_VERSION for row in newest.values()):
        applying = {row[1]: row for row in connection.execute(_NEWEST_APPLYING).all()}
    opted = _backup_volumes(session, _OPTED)
    found = memo.found if memo is not None else {}
    for row in connection.execute(_APPS).all():
        name = row[0]
        last = newest.get(name)
        applied = applying.get(name) if last is not None and last[2] not in _APPLIES_VERSION else None
        # plain tuples: a Row compares in Python, a tuple in C
        key = (tuple(row), last and tuple(last), applied and tuple(applied), name in opted)
        known = found.get(key)
        if known is not None:
            into.add().MergeFromString(known)
            continue
        pb = _fill_listed(into.add(), row, last, applied, opted=name in opted)
        if memo is not None:
            memo.put(key, pb)


def _fill_listed(pb: apps_pb2.App, row: Any, last: Any, applied: Any, *, opted: bool) -> apps_pb2.App:
    """One app of the list from its rows, each deployment filled straight into the app's message."""
    fill_app(pb, row)
    pb.backup_volumes = opted
    if last is None:  # no deployment: the status is its containers'
        return pb
    newest = fill_deployment(pb.last_deployment, last)
    pb.status, pb.status_message = effective_status(runtime=pb.status, message=pb.status_message, last=newest)
    if newest.action in _APPLIES_VERSION:
        pb.last_version_deployment.CopyFrom(newest)
    elif applied is not None:
        fill_deployment(pb.last_version_deployment, applied)
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
    session.execute(delete(Setting).where(Setting.key == BACKUP_VOLUMES + name))
    session.execute(delete(ImageUpdateRow).where(ImageUpdateRow.app == name))  # its update findings
    session.delete(app)
    events.emit(session=session, type="app_deleted", subject=name, actor=actor, payload={})
    return app
