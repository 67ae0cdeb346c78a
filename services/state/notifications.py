"""Notification targets and the last delivery to each. The deployer validates a target's settings;
this keeps them (secrets included: they leave state only on the internal socket)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from google.protobuf import json_format
from sqlalchemy import select
from sqlalchemy.orm import Session

from appos.v1 import notifications_pb2, state_pb2
from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.common.names import validate_dns_label
from services.common.timestamps import now_us, set_ts
from services.state import events, settings_store
from services.state.models import NotificationTarget

KINDS = ("webhook", "email")
DELIVERY_STATUSES = ("delivered", "retrying", "failed")


def delivery_key(name: str) -> str:
    return f"notifications.delivery.{name}"


def _check(spec: state_pb2.StateNotificationTarget) -> str:
    validate_dns_label(spec.name, what="target name")
    if spec.kind not in KINDS:
        raise InvalidArgument(f"kind must be one of {', '.join(KINDS)}")
    try:
        config = json.loads(spec.config_json or "{}")
    except json.JSONDecodeError as exc:
        raise InvalidArgument("config_json is not JSON") from exc
    if not isinstance(config, dict):
        raise InvalidArgument("config_json must be a JSON object")
    return json.dumps(config, sort_keys=True)


def _summary(row: NotificationTarget) -> dict[str, object]:
    """What an event says about a target: never its config (URLs and passwords may be secrets)."""
    return {"kind": row.kind, "events": json.loads(row.events_json), "enabled": row.enabled}


def to_pb(*, session: Session, row: NotificationTarget) -> state_pb2.StateNotificationTarget:
    pb = state_pb2.StateNotificationTarget(
        name=row.name,
        kind=row.kind,
        config_json=row.config_json,
        events=json.loads(row.events_json),
        enabled=row.enabled,
    )
    set_ts(pb.created_at, row.created_at)
    set_ts(pb.updated_at, row.updated_at)
    last = settings_store.get_value(session=session, key=delivery_key(row.name))
    if isinstance(last, dict):
        json_format.ParseDict(last, pb.last_delivery, ignore_unknown_fields=True)
    return pb


def get_target(*, session: Session, name: str) -> NotificationTarget:
    row = session.scalar(select(NotificationTarget).where(NotificationTarget.name == name))
    if row is None:
        raise NotFound(f"notification target {name!r} does not exist")
    return row


def list_targets(*, session: Session) -> list[NotificationTarget]:
    return list(session.scalars(select(NotificationTarget).order_by(NotificationTarget.name)))


def create_target(
    *, session: Session, spec: state_pb2.StateNotificationTarget, actor: str
) -> NotificationTarget:
    config_json = _check(spec)
    if session.scalar(select(NotificationTarget).where(NotificationTarget.name == spec.name)) is not None:
        raise AlreadyExists(f"notification target {spec.name!r} already exists")
    now = now_us()
    row = NotificationTarget(
        name=spec.name, kind=spec.kind, config_json=config_json, events_json=_events(spec.events),
        enabled=spec.enabled, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(row)
    settings_store.delete_setting(session=session, key=delivery_key(spec.name))
    events.emit(
        session=session, type="notification_target_created", subject=spec.name, actor=actor,
        payload=_summary(row),
    )  # fmt: skip
    return row


def update_target(
    *, session: Session, spec: state_pb2.StateNotificationTarget, actor: str
) -> NotificationTarget:
    config_json = _check(spec)
    row = get_target(session=session, name=spec.name)
    row.kind, row.config_json, row.events_json = spec.kind, config_json, _events(spec.events)
    row.enabled, row.updated_at = spec.enabled, now_us()
    events.emit(
        session=session, type="notification_target_updated", subject=spec.name, actor=actor,
        payload=_summary(row),
    )  # fmt: skip
    return row


def delete_target(*, session: Session, name: str, actor: str) -> state_pb2.StateNotificationTarget:
    row = get_target(session=session, name=name)
    pb = to_pb(session=session, row=row)
    session.delete(row)
    settings_store.delete_setting(session=session, key=delivery_key(name))
    events.emit(session=session, type="notification_target_deleted", subject=name, actor=actor, payload={})
    return pb


def record_delivery(
    *, session: Session, delivery: notifications_pb2.NotificationDelivery, final_failure: bool
) -> notifications_pb2.NotificationDelivery:
    """Keep the target's last delivery; when every attempt failed, say so in the event log."""
    if delivery.status not in DELIVERY_STATUSES:
        raise InvalidArgument(f"delivery status must be one of {', '.join(DELIVERY_STATUSES)}")
    get_target(session=session, name=delivery.target)
    record = notifications_pb2.NotificationDelivery()
    record.CopyFrom(delivery)
    record.error = delivery.error[:1000]
    if not record.HasField("at"):
        set_ts(record.at, now_us())
    value = json_format.MessageToDict(record, preserving_proto_field_name=True)
    key = delivery_key(delivery.target)
    settings_store.put_setting(session=session, key=key, value_json=json.dumps(value))
    if final_failure:
        events.emit(
            session=session,
            type="notification_failed",
            subject=delivery.target,
            actor="worker",
            payload={
                "event": record.event, "seq": record.seq, "error": record.error[:500],
                "attempts": record.attempts, "http_status": record.http_status,
            },
        )  # fmt: skip
    return record


def _events(kinds: Sequence[str]) -> str:
    return json.dumps(sorted(set(kinds)))
