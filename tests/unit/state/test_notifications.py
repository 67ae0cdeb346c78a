"""Notification targets and settings in state, on a real SQLite file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from appos.v1 import notifications_pb2, state_pb2
from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.state import notifications, settings_store
from services.state.db import make_engine, migrate
from services.state.models import Event
from services.state.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    engine = make_engine(tmp_path / "appos.db")
    migrate(engine)
    yield Store(engine)
    engine.dispose()


def _spec(name: str = "hook", secret: str = "the-secret-value!") -> state_pb2.StateNotificationTarget:
    return state_pb2.StateNotificationTarget(
        name=name, kind="webhook", config_json=json.dumps({"url": "http://x", "secret": secret}),
        events=["deployment_failed"], enabled=True,
    )  # fmt: skip


def _events(store: Store) -> list[Event]:
    with store.read() as s:
        return list(s.scalars(select(Event).order_by(Event.seq)))


def test_targets_live_and_events_never_carry_config(store: Store) -> None:
    with store.write() as s:
        notifications.create_target(session=s, spec=_spec(), actor="admin")
    with store.write() as s, pytest.raises(AlreadyExists):
        notifications.create_target(session=s, spec=_spec(), actor="admin")
    with store.write() as s:
        updated = _spec(secret="another-secret!!")
        updated.enabled = False
        notifications.update_target(session=s, spec=updated, actor="admin")
    with store.read() as s:
        pb = notifications.to_pb(session=s, row=notifications.get_target(session=s, name="hook"))
    assert not pb.enabled and json.loads(pb.config_json)["secret"] == "another-secret!!"
    with store.write() as s:
        notifications.delete_target(session=s, name="hook", actor="admin")
    with store.read() as s, pytest.raises(NotFound):
        notifications.get_target(session=s, name="hook")
    kinds = [e.type for e in _events(store)][-3:]
    assert kinds == [
        "notification_target_created",
        "notification_target_updated",
        "notification_target_deleted",
    ]
    assert not any("secret" in e.payload_json or "http://x" in e.payload_json for e in _events(store))


def test_bad_targets_are_refused(store: Store) -> None:
    for bad in (
        _spec(name="Bad"),
        state_pb2.StateNotificationTarget(name="x", kind="pager", config_json="{}"),
    ):
        with store.write() as s, pytest.raises(InvalidArgument):
            notifications.create_target(session=s, spec=bad, actor="admin")
    broken = _spec()
    broken.config_json = "[1]"
    with store.write() as s, pytest.raises(InvalidArgument):
        notifications.create_target(session=s, spec=broken, actor="admin")


def test_deliveries_are_kept_and_a_final_failure_is_an_event(store: Store) -> None:
    with store.write() as s:
        notifications.create_target(session=s, spec=_spec(), actor="admin")
    delivery = notifications_pb2.NotificationDelivery(
        target="hook", status="retrying", error="HTTP 500", attempts=1, event="deployment_failed", seq=7
    )
    with store.write() as s:
        notifications.record_delivery(session=s, delivery=delivery, final_failure=False)
    assert _events(store)[-1].type == "notification_target_created"  # a retry is no event
    delivery.status, delivery.attempts = "failed", 3
    with store.write() as s:
        notifications.record_delivery(session=s, delivery=delivery, final_failure=True)
    last = _events(store)[-1]
    assert last.type == "notification_failed" and last.subject == "hook"
    assert json.loads(last.payload_json)["attempts"] == 3
    with store.read() as s:
        pb = notifications.to_pb(session=s, row=notifications.get_target(session=s, name="hook"))
    assert (
        pb.last_delivery.status == "failed" and pb.last_delivery.seq == 7 and pb.last_delivery.HasField("at")
    )
    delivery.status = "lost"
    with store.write() as s, pytest.raises(InvalidArgument):
        notifications.record_delivery(session=s, delivery=delivery, final_failure=False)
    with store.write() as s:
        notifications.delete_target(session=s, name="hook", actor="admin")
    with store.read() as s:
        assert settings_store.get_value(session=s, key=notifications.delivery_key("hook")) is None


def test_settings_are_json_and_quiet(store: Store) -> None:
    before = len(_events(store))
    with store.write() as s:
        settings_store.put_setting(session=s, key="notifications.cursor", value_json='{"seq": 5}')
    with store.read() as s:
        assert settings_store.get_value(session=s, key="notifications.cursor") == {"seq": 5}
        with pytest.raises(NotFound):
            settings_store.get_setting(session=s, key="nope")
    assert len(_events(store)) == before
    for key, value in (("Bad Key", "1"), ("ok", "{not json")):
        with store.write() as s, pytest.raises(InvalidArgument):
            settings_store.put_setting(session=s, key=key, value_json=value)
