"""Config versions: every change to an app's compose or .env is a new, numbered, append-only version."""

from __future__ import annotations

import base64
import hashlib
import json

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.common.errors import Conflict, InvalidArgument, NotFound
from services.common.timestamps import now_us
from services.state import events
from services.state.apps import get_app
from services.state.deployments import create_deployment, reporter
from services.state.models import App, ConfigVersion, Deployment

SOURCES = ("create", "edit", "rollback", "auto_rollback", "update")
DEFAULT_PAGE = 50
MAX_PAGE = 500


def content_hash(compose: str, env: str) -> str:
    digest = hashlib.sha256()
    for part in (compose, env):
        data = part.encode()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def add_version(
    *, session: Session, app: App, compose: str, env: str, author: str, message: str, source: str,
    reported_by: str = "",
) -> ConfigVersion:  # fmt: skip
    """Append the next version and make it the app's current configuration. `reported_by`: the flow
    that tells people about it (an update's rollback: the update's own event), so its
    `version_created` notifies nobody."""
    if source not in SOURCES:
        raise InvalidArgument(f"source must be one of {', '.join(SOURCES)}")
    if len(message) > 500:
        raise InvalidArgument("message must be at most 500 characters")
    number = app.current_version + 1
    version = ConfigVersion(
        app=app.name, number=number, compose=compose, env=env, hash=content_hash(compose, env),
        author=author or "system", message=message, source=source, deployment_id="", created_at=now_us(),
    )  # fmt: skip
    session.add(version)
    app.compose, app.env, app.current_version, app.updated_at = compose, env, number, now_us()
    payload: dict[str, object] = {"version": number, "source": source, "message": message}
    if reported_by:
        payload["reported_by"] = reported_by
    events.emit(session=session, type="version_created", subject=app.name, actor=author, payload=payload)
    return version


def create_version(
    *,
    session: Session,
    app_name: str,
    compose: str,
    env: str,
    author: str,
    message: str,
    source: str,
    expected_version: int,
    deploy: bool,
    rollback_to: int = 0,
    rollback_cause: str = "",
    options_json: str = "",
) -> tuple[ConfigVersion, App, Deployment | None]:
    """A new version; with `deploy`, its deployment, which keeps what made it (`origin`): the source
    and, for a rollback, the version the app was at and the earlier one it goes back to. A version
    made by an update (source `update`) is deployed by an `update` deployment with `options_json`
    (its targets, the version it updates) beside the origin."""
    app = get_app(session=session, name=app_name)
    if expected_version and app.current_version != expected_version:
        raise Conflict(
            f"app {app_name} is at version {app.current_version}, not {expected_version}: "
            "reload it and apply your change again"
        )
    try:
        options = json.loads(options_json or "{}")
    except json.JSONDecodeError as exc:
        raise InvalidArgument("options_json is not JSON") from exc
    if not isinstance(options, dict):
        raise InvalidArgument("options_json must be a JSON object")
    origin: dict[str, object] = {"source": source}
    if source in ("rollback", "auto_rollback"):
        if rollback_to < 1 or rollback_to > app.current_version:
            raise InvalidArgument("a rollback names the earlier version it goes back to (rollback_to)")
        origin.update(rollback_from=app.current_version, rollback_to=rollback_to)
        if rollback_cause:
            origin["rollback_cause"] = rollback_cause[:1000]
    if source == "update":
        origin["updated_from"] = app.current_version
    version = add_version(
        session=session, app=app, compose=compose, env=env, author=author, message=message, source=source,
        reported_by=reporter(options),
    )  # fmt: skip
    deployment = None
    if deploy:
        deployment = create_deployment(
            session=session, app=app, action="update" if source == "update" else "deploy", actor=author,
            options_json=json.dumps({**options, "origin": origin}),
        )  # fmt: skip
        version.deployment_id = deployment.id
    return version, app, deployment


def origins(*, session: Session, found: list[ConfigVersion]) -> dict[str, dict[str, object]]:
    """The origin (Deployment.origin) of each of these versions' deployments, by deployment id."""
    ids = [v.deployment_id for v in found if v.deployment_id and v.source in ("rollback", "auto_rollback")]
    if not ids:
        return {}
    return {d.id: d.origin() for d in session.scalars(select(Deployment).where(Deployment.id.in_(ids)))}


def get_version(*, session: Session, app: str, number: int) -> ConfigVersion:
    version = session.get(ConfigVersion, (app, number))
    if version is None:
        get_app(session=session, name=app)  # NotFound for the app first
        raise NotFound(f"app {app} has no version {number}")
    return version


def list_versions(
    *, session: Session, app: str, page_size: int, page_token: str
) -> tuple[list[ConfigVersion], str]:
    get_app(session=session, name=app)
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative")
    size = DEFAULT_PAGE if page_size == 0 else min(page_size, MAX_PAGE)
    query = (
        select(ConfigVersion)
        .where(ConfigVersion.app == app)
        .order_by(ConfigVersion.number.desc())
        .limit(size + 1)
    )
    if page_token:
        try:
            before = int(base64.urlsafe_b64decode(page_token).decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgument("page_token is not valid") from exc
        query = query.where(ConfigVersion.number < before)
    rows = list(session.scalars(query))
    if len(rows) > size:
        return rows[:size], base64.urlsafe_b64encode(str(rows[size - 1].number).encode()).decode()
    return rows, ""


def delete_versions(*, session: Session, app: str) -> None:
    session.execute(delete(ConfigVersion).where(ConfigVersion.app == app))


def update_options(
    *,
    session: Session,
    app_name: str,
    auto_rollback: bool | None,
    policy_exceptions: list[str] | None,
    reason: str,
    actor: str,
) -> App:
    app = get_app(session=session, name=app_name)
    changed: dict[str, object] = {}
    if auto_rollback is not None and auto_rollback != app.auto_rollback:
        app.auto_rollback = auto_rollback
        changed["auto_rollback"] = auto_rollback
    if policy_exceptions is not None:
        text = json.dumps(sorted(set(policy_exceptions)))
        if text != app.policy_exceptions_json:
            app.policy_exceptions_json = text
            changed["policy_exceptions"] = sorted(set(policy_exceptions))
            changed["reason"] = reason[:500]
    if changed:
        app.updated_at = now_us()
        kind = "app_policy_changed" if "policy_exceptions" in changed else "app_options_changed"
        events.emit(session=session, type=kind, subject=app.name, actor=actor, payload=changed)
    return app
