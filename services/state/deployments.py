"""Deployments: every change to an app runs as one, pending → running → succeeded/failed/cancelled.
Their output is kept as log lines, each also an event, so clients follow them live."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Sequence

from google.protobuf import json_format
from sqlalchemy import select
from sqlalchemy.orm import Session

from appos.v1 import apps_pb2
from services.common.errors import Conflict, InvalidArgument, NotFound
from services.common.timestamps import now_us
from services.state import events
from services.state.apps import get_app
from services.state.models import App, Deployment, DeploymentLog

ACTIONS = ("deploy", "redeploy", "start", "stop", "restart", "remove", "update")
# Actions that apply a config version (an update is a new version, deployed with its own steps).
APPLIES_VERSION = ("deploy", "redeploy", "update")
STATUSES = ("pending", "running", "succeeded", "failed", "cancelled")
TERMINAL = ("succeeded", "failed", "cancelled")
MAX_LINE = 4000
MAX_LINES_PER_CALL = 500
DEFAULT_PAGE = 50
MAX_PAGE = 500


def reporter(options: object) -> str:
    """What tells people how this deployment ended instead of its own events' notifications: the
    options' `reported_by` (`"update"`: an update's deployment and its rollback's, whose outcome the
    update reports once, as `update_failed` or `update_rolled_back`), else ""."""
    value = options.get("reported_by") if isinstance(options, dict) else None
    return value if isinstance(value, str) else ""


def create_deployment(
    *, session: Session, app: App, action: str, actor: str, options_json: str
) -> Deployment:
    if action not in ACTIONS:
        raise InvalidArgument(f"action must be one of {', '.join(ACTIONS)}")
    try:
        options = json.loads(options_json or "{}")
    except json.JSONDecodeError as exc:
        raise InvalidArgument("options_json is not JSON") from exc
    if not isinstance(options, dict):
        raise InvalidArgument("options_json must be a JSON object")
    deployment = Deployment(
        id=uuid.uuid4().hex,
        app=app.name,
        action=action,
        status="pending",
        reason="",
        version=app.current_version,
        actor=actor,
        attempt=0,
        options_json=json.dumps(options, sort_keys=True),
        created_at=now_us(),
    )
    session.add(deployment)
    events.emit(
        session=session,
        type="deployment_created",
        subject=deployment.id,
        actor=actor,
        payload={"app": app.name, "action": action},
    )
    return deployment


def create_for_app(
    *, session: Session, app_name: str, action: str, actor: str, options_json: str
) -> Deployment:
    return create_deployment(
        session=session,
        app=get_app(session=session, name=app_name),
        action=action,
        actor=actor,
        options_json=options_json,
    )


def get_deployment(*, session: Session, deployment_id: str) -> Deployment:
    deployment = session.get(Deployment, deployment_id)
    if deployment is None:
        raise NotFound(f"deployment {deployment_id!r} does not exist")
    return deployment


_CURSOR = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


def list_deployments(
    *, session: Session, app: str, statuses: Sequence[str], page_size: int, page_token: str, version: int = 0
) -> tuple[list[Deployment], str]:
    """Newest first, of one app, status and config version when asked. The page token is the
    (created_at, id) of the last row seen."""
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative")
    size = DEFAULT_PAGE if page_size == 0 else min(page_size, MAX_PAGE)
    query = select(Deployment).order_by(Deployment.created_at.desc(), Deployment.id.desc()).limit(size + 1)
    if app:
        query = query.where(Deployment.app == app)
    if statuses:
        query = query.where(Deployment.status.in_(list(statuses)))
    if version:
        query = query.where(Deployment.version == version)
    if page_token:
        try:
            if not _CURSOR.fullmatch(page_token):
                raise ValueError(page_token)
            created, _, last_id = base64.urlsafe_b64decode(page_token).decode().partition(":")
            created_at = int(created)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgument("page_token is not valid") from exc
        query = query.where(
            (Deployment.created_at < created_at)
            | ((Deployment.created_at == created_at) & (Deployment.id < last_id))
        )
    rows = list(session.scalars(query))
    if len(rows) > size:
        last = rows[size - 1]
        return rows[:size], base64.urlsafe_b64encode(f"{last.created_at}:{last.id}".encode()).decode()
    return rows, ""


def transition(
    *,
    session: Session,
    deployment_id: str,
    from_statuses: Sequence[str],
    to_status: str,
    reason: str,
    new_attempt: bool,
    images: Sequence[apps_pb2.ServiceImage] = (),
) -> Deployment:
    """`images`: what a deployment ran, kept when it succeeded."""
    if to_status not in STATUSES:
        raise InvalidArgument(f"status must be one of {', '.join(STATUSES)}")
    deployment = get_deployment(session=session, deployment_id=deployment_id)
    if deployment.status not in from_statuses:
        raise Conflict(f"deployment {deployment_id} is {deployment.status}, not {' or '.join(from_statuses)}")
    now = now_us()
    deployment.status = to_status
    deployment.reason = reason[:MAX_LINE]
    if to_status == "running":
        deployment.started_at = now
        deployment.finished_at = None
        if new_attempt:
            deployment.attempt += 1
    if to_status in TERMINAL:
        deployment.finished_at = now
    kept = images if to_status == "succeeded" else ()
    deployment.images_json = json.dumps(
        [json_format.MessageToDict(i, preserving_proto_field_name=True) for i in kept]
    )
    if to_status == "succeeded" and deployment.action in APPLIES_VERSION:
        app = session.get(App, deployment.app)
        if app is not None and deployment.version:
            app.last_good_version = deployment.version
    if to_status == "running" and deployment.action in APPLIES_VERSION:
        app = session.get(App, deployment.app)
        if app is not None and app.status != "deploying":
            app.status, app.status_message, app.updated_at = "deploying", "", now
            events.emit(
                session=session,
                type="app_status",
                subject=app.name,
                actor="deployer",
                payload={"status": "deploying", "message": ""},
            )
    payload: dict[str, object] = {
        "app": deployment.app,
        "action": deployment.action,
        "status": to_status,
        "reason": deployment.reason,
        "attempt": deployment.attempt,
    }
    reported_by = reporter(json.loads(deployment.options_json or "{}"))
    if reported_by:
        payload["reported_by"] = reported_by  # notifications leave it to that flow's own event
    events.emit(
        session=session, type="deployment_status", subject=deployment.id, actor="deployer", payload=payload
    )
    return deployment


def append_log(*, session: Session, deployment_id: str, lines: Sequence[str]) -> int:
    deployment = get_deployment(session=session, deployment_id=deployment_id)
    if len(lines) > MAX_LINES_PER_CALL:
        raise InvalidArgument(f"at most {MAX_LINES_PER_CALL} lines per call")
    last = 0
    now = now_us()
    for raw in lines:
        line = raw[:MAX_LINE]
        row = DeploymentLog(deployment_id=deployment_id, line=line, created_at=now)
        session.add(row)
        session.flush()
        last = row.seq
        events.emit(
            session=session,
            type="deployment_log",
            subject=deployment_id,
            actor="deployer",
            payload={"app": deployment.app, "seq": row.seq, "line": line},
        )
    return last


def log_lines(*, session: Session, deployment_id: str, after: int) -> list[DeploymentLog]:
    get_deployment(session=session, deployment_id=deployment_id)
    query = (
        select(DeploymentLog)
        .where(DeploymentLog.deployment_id == deployment_id, DeploymentLog.seq > after)
        .order_by(DeploymentLog.seq)
        .limit(10_000)
    )
    return list(session.scalars(query))
