"""Which entries of the event log are worth a notification, and what the notification says.

A notification is the same small dict everywhere: the Celery task's argument, the webhook's JSON
body (with `occurred_at` as RFC 3339) and the email's text.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from appos.v1 import common_pb2
from services.common.timestamps import now_us, ts_us, us_datetime

DEPLOYMENT_FAILED = "deployment_failed"
AUTO_ROLLBACK = "auto_rollback"
CERTIFICATE_EXPIRING = "certificate_expiring"
CERTIFICATE_FAILED = "certificate_failed"
APP_UNHEALTHY = "app_unhealthy"
UPDATE_AVAILABLE = "update_available"  # appended by state when an update check finds something new
# appended by the worker when an app's update failed: rolled back to the previous version (and its
# volume data), or not even that (the message says what state the app is in)
UPDATE_ROLLED_BACK = "update_rolled_back"
UPDATE_FAILED = "update_failed"
TEST = "test"

# Every kind a target can subscribe to, in the order people read them.
KINDS = (
    DEPLOYMENT_FAILED,
    AUTO_ROLLBACK,
    CERTIFICATE_EXPIRING,
    CERTIFICATE_FAILED,
    APP_UNHEALTHY,
    UPDATE_AVAILABLE,
    UPDATE_ROLLED_BACK,
    UPDATE_FAILED,
)

TITLES = {
    DEPLOYMENT_FAILED: "Deployment failed",
    AUTO_ROLLBACK: "Automatic rollback",
    CERTIFICATE_EXPIRING: "Certificate expiring",
    CERTIFICATE_FAILED: "Certificate not issued",
    APP_UNHEALTHY: "App unhealthy",
    UPDATE_AVAILABLE: "Update available",
    UPDATE_ROLLED_BACK: "Update rolled back",
    UPDATE_FAILED: "Update failed",
    TEST: "Test notification",
}


@dataclass(frozen=True)
class Notification:
    event: str
    subject: str
    message: str
    app: str
    occurred_at: int  # microseconds since the epoch
    seq: int
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        where = self.app or self.subject
        return (
            f"{TITLES.get(self.event, self.event)}: {where}" if where else TITLES.get(self.event, self.event)
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        return cls(
            event=str(data["event"]),
            subject=str(data.get("subject", "")),
            message=str(data.get("message", "")),
            app=str(data.get("app", "")),
            occurred_at=int(data.get("occurred_at", 0)),
            seq=int(data.get("seq", 0)),
            payload=dict(data.get("payload") or {}),
        )

    def body(self) -> bytes:
        """The webhook's JSON body: compact, keys sorted, so its bytes (and signature) are stable."""
        document = {
            "event": self.event,
            "subject": self.subject,
            "message": self.message,
            "app": self.app,
            "occurred_at": us_datetime(self.occurred_at).isoformat().replace("+00:00", "Z"),
            "seq": self.seq,
            "payload": self.payload,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def from_event(event: common_pb2.Event) -> Notification | None:
    """The notification an event log entry calls for, or None."""
    try:
        payload = json.loads(event.payload_json or "{}")
    except json.JSONDecodeError:
        return None
    if not isinstance(payload, dict):
        return None
    kind, app, message = _classify(event.type, event.subject, payload)
    if not kind:
        return None
    return Notification(
        event=kind, subject=event.subject, message=message, app=app,
        occurred_at=ts_us(event.created_at), seq=event.seq, payload=payload,
    )  # fmt: skip


def _classify(type_: str, subject: str, payload: dict[str, Any]) -> tuple[str, str, str]:
    """(kind, app, message); kind '' for events nobody is notified of. A deployment or version that
    is part of a larger flow (`reported_by`: an update and its rollback) is told by that flow's own
    event (`update_failed`, `update_rolled_back`): one event, one message."""
    if type_ in ("deployment_status", "version_created") and payload.get("reported_by"):
        return "", "", ""
    if type_ == "deployment_status" and payload.get("status") == "failed":
        app = str(payload.get("app", ""))
        action = str(payload.get("action", "deploy"))
        return (
            DEPLOYMENT_FAILED,
            app,
            f"{action} of {app} failed: {payload.get('reason') or 'no reason given'}",
        )
    if type_ == "version_created" and payload.get("source") == "auto_rollback":
        return AUTO_ROLLBACK, subject, str(payload.get("message") or f"{subject} was rolled back")
    if type_ == "certificate_expiring":
        days = payload.get("days_left")
        return CERTIFICATE_EXPIRING, "", f"the certificate of {subject} expires in {days} days"
    if type_ == "certificate_failed":
        reason = payload.get("reason") or "no reason given"
        return CERTIFICATE_FAILED, "", f"no certificate could be issued for {subject}: {reason}"
    if type_ == APP_UNHEALTHY:
        return APP_UNHEALTHY, subject, f"{subject}: {payload.get('reason') or 'unhealthy'}"
    if type_ == UPDATE_AVAILABLE:
        return UPDATE_AVAILABLE, subject, str(payload.get("message") or f"{subject}: an update is available")
    if type_ in (UPDATE_ROLLED_BACK, UPDATE_FAILED):
        app = str(payload.get("app") or subject)
        return type_, app, str(payload.get("message") or f"the update of {app} failed")
    return "", "", ""


def make_test_notification(target: str) -> Notification:
    return Notification(
        event=TEST,
        subject=target,
        message=f"a test notification from AppOS to {target}",
        app="",
        occurred_at=now_us(),
        seq=0,
        payload={},
    )
