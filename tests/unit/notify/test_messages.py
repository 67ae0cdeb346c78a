"""Notifications without a server: which events notify, the webhook body and its signature, email."""

from __future__ import annotations

import hashlib
import hmac
import json

from appos.v1 import common_pb2
from services.common.timestamps import set_ts
from services.notify import events
from services.notify.events import Notification, from_event
from services.notify.send import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    email_message,
    signature,
    verify,
    webhook_headers,
)

AT = 1_767_225_600_123_456  # 2026-01-01T00:00:00.123456Z


def _event(type_: str, subject: str, payload: dict[str, object], seq: int = 42) -> common_pb2.Event:
    event = common_pb2.Event(
        seq=seq, type=type_, subject=subject, actor="deployer", payload_json=json.dumps(payload)
    )
    set_ts(event.created_at, AT)
    return event


def test_a_failed_deployment_notifies_with_its_reason() -> None:
    payload: dict[str, object] = {
        "app": "blog",
        "action": "deploy",
        "status": "failed",
        "reason": "service job exited with code 1",
    }
    note = from_event(_event("deployment_status", "d1", payload))
    assert note is not None
    assert (note.event, note.app, note.subject, note.seq) == ("deployment_failed", "blog", "d1", 42)
    assert note.message == "deploy of blog failed: service job exited with code 1"
    assert note.payload == payload
    assert note.title == "Deployment failed: blog"


def test_which_events_notify() -> None:
    def kind(type_: str, payload: dict[str, object]) -> str | None:
        note = from_event(_event(type_, "x", payload))
        return note.event if note else None

    assert kind("deployment_status", {"status": "succeeded", "app": "a"}) is None
    assert kind("deployment_status", {"status": "running", "app": "a"}) is None
    assert kind("version_created", {"source": "edit", "version": 2}) is None
    assert kind("version_created", {"source": "auto_rollback", "message": "automatic rollback to v1"}) == (
        "auto_rollback"
    )
    assert kind("certificate_expiring", {"status": "expiring", "days_left": 9}) == "certificate_expiring"
    assert kind("certificate_failed", {"status": "failed", "reason": "dns"}) == "certificate_failed"
    assert kind("certificate_status", {"status": "valid"}) is None
    assert kind("app_unhealthy", {"reason": "service web is unhealthy"}) == "app_unhealthy"
    assert kind("app_status", {"status": "unhealthy"}) is None  # the watcher's app_unhealthy says it
    assert kind("update_available", {"app": "blog", "message": "blog: web 1.0.0 → 1.0.1 (patch)"}) == (
        "update_available"
    )
    assert kind("updates_checked", {"apps": 1, "updates": 1}) is None  # the check's end: no one is told
    assert kind("update_rolled_back", {"app": "blog", "message": "rolled back to v1"}) == "update_rolled_back"
    assert kind("update_failed", {"app": "blog", "message": "the app is failed"}) == "update_failed"
    assert kind("update_step", {"app": "blog", "step": "pull", "status": "failed"}) is None  # progress only
    assert kind("update_succeeded", {"app": "blog"}) is None
    # an update's deployment and its rollback: the update's own event is the one message
    assert kind("deployment_status", {"status": "failed", "app": "a", "reported_by": "update"}) is None
    assert kind("version_created", {"source": "auto_rollback", "reported_by": "update"}) is None
    assert kind("notification_failed", {"event": "deployment_failed"}) is None  # never a loop
    assert kind("deployment_log", {"line": "x"}) is None


def test_a_bad_payload_notifies_nobody() -> None:
    assert from_event(_event("deployment_status", "d", {})) is None
    bad = common_pb2.Event(seq=1, type="certificate_failed", subject="x", payload_json="[1]")
    assert from_event(bad) is None
    bad.payload_json = "{not json"
    assert from_event(bad) is None


def test_the_body_is_the_documented_json_and_stable() -> None:
    note = Notification(
        event="deployment_failed", subject="d1", message="m", app="blog", occurred_at=AT, seq=7,
        payload={"b": 1, "a": [1, 2]},
    )  # fmt: skip
    body = note.body()
    assert json.loads(body) == {
        "event": "deployment_failed",
        "subject": "d1",
        "message": "m",
        "app": "blog",
        "occurred_at": "2026-01-01T00:00:00.123456Z",
        "seq": 7,
        "payload": {"a": [1, 2], "b": 1},
    }
    assert body == note.body()  # same bytes every time: keys sorted, no spaces
    assert b" " not in body
    # the Celery argument round-trips to the same notification
    assert Notification.from_dict(json.loads(json.dumps(note.to_dict()))) == note


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body, secret = b'{"event":"test"}', "s3cret-s3cret-s3cret"
    expected = hmac.new(secret.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(secret, "1700000000", body) == f"sha256={expected}"
    headers = webhook_headers(secret=secret, body=body, event="test", delivery_id="0-hook", now=1700000000.9)
    assert headers[TIMESTAMP_HEADER] == "1700000000"
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert headers[EVENT_HEADER] == "test" and headers[DELIVERY_HEADER] == "0-hook"
    assert headers["Content-Type"] == "application/json"
    assert secret not in json.dumps(headers)


def test_verify_refuses_tampering_other_keys_and_replays() -> None:
    body, secret, ts = b'{"seq":1}', "k" * 20, "1700000000"
    good = signature(secret, ts, body)
    assert verify(secret, ts, body, good, now=1700000010)
    assert not verify(secret, ts, body + b" ", good, now=1700000010)  # body changed
    assert not verify("x" * 20, ts, body, good, now=1700000010)  # another key
    assert not verify(secret, "1700000001", body, good, now=1700000010)  # timestamp changed
    assert not verify(secret, ts, body, good, now=1700000000 + 3600)  # an old one replayed
    assert not verify(secret, "soon", body, good, now=1700000000)


def test_email_text() -> None:
    note = Notification(
        event="app_unhealthy", subject="blog", message="blog: service web is unhealthy", app="blog",
        occurred_at=AT, seq=9,
    )  # fmt: skip
    config = {"from_address": "appos@example.com", "to": ["ops@example.com", "b@example.org"]}
    message = email_message(config, note)
    assert message["Subject"] == "[AppOS] App unhealthy: blog"
    assert message["From"] == "appos@example.com"
    assert message["To"] == "ops@example.com, b@example.org"
    text = message.get_content()
    assert text.startswith("blog: service web is unhealthy\n")
    assert "Event: app_unhealthy" in text and "Event log seq: 9" in text


def test_a_test_notification() -> None:
    note = events.make_test_notification("hook")
    assert (note.event, note.subject, note.seq) == ("test", "hook", 0)
    assert note.title == "Test notification: hook"


def test_an_update_notification_names_the_app_and_says_what_happened() -> None:
    payload: dict[str, object] = {
        "app": "blog",
        "deployment": "d7",
        "message": "update web 1.0.0 → 1.1.0 failed (x); rolled back",
    }
    note = from_event(_event("update_rolled_back", "blog", payload))
    assert note is not None
    assert (note.event, note.app, note.message) == ("update_rolled_back", "blog", payload["message"])
    assert note.title == "Update rolled back: blog"
