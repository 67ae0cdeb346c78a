"""An update's version (issue 19): source `update`, deployed by an `update` deployment that carries
the update's options beside its origin, and counts as applying a version; its deployment's and its
rollback's events leave the notifying to the update (real SQLite)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.notify.events import from_event
from services.state import apps, deployments, events, versions
from services.state.apps import app_pb
from services.state.db import make_engine, migrate
from services.state.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    engine = make_engine(tmp_path / "appos.db")
    migrate(engine)
    with Store(engine).write() as s:
        app = apps.create_app(
            session=s, name="blog", template="", compose="services: {}\n", env="", web_service="",
            web_port=0, actor="alice",
        )  # fmt: skip
        versions.add_version(
            session=s, app=app, compose="a", env="", author="alice", message="", source="create"
        )
    yield Store(engine)
    engine.dispose()


def _update(store: Store, options: str) -> str:
    with store.write() as s:
        version, _app, deployment = versions.create_version(
            session=s, app_name="blog", compose="b", env="", author="bob", message="web 1.0.0 → 1.1.0",
            source="update", expected_version=1, deploy=True, options_json=options,
        )  # fmt: skip
        assert deployment is not None and version.number == 2 and version.source == "update"
        return deployment.id


def test_an_update_version_is_deployed_by_an_update_deployment_with_its_options(store: Store) -> None:
    deployment_id = _update(store, json.dumps({"update": {"previous": 1, "targets": []}}))
    with store.read() as s:
        deployment = deployments.get_deployment(session=s, deployment_id=deployment_id)
        assert deployment.action == "update" and deployment.version == 2
        options = json.loads(deployment.options_json)
        assert options == {
            "update": {"previous": 1, "targets": []},
            "origin": {"source": "update", "updated_from": 1},
        }
        pb = app_pb(session=s, app=apps.get_app(session=s, name="blog"))
        assert pb.status == "deploying" and pb.last_version_deployment.id == deployment_id
    for to in ("running", "succeeded"):
        with store.write() as s:
            deployments.transition(
                session=s, deployment_id=deployment_id, from_statuses=["pending", "running"], to_status=to,
                reason="", new_attempt=to == "running",
            )  # fmt: skip
    with store.read() as s:
        assert apps.get_app(session=s, name="blog").last_good_version == 2


def test_options_must_be_a_json_object(store: Store) -> None:
    with pytest.raises(InvalidArgument, match="options_json"):
        _update(store, "[1]")


def _fail(store: Store, deployment_id: str) -> None:
    for to in ("running", "failed"):
        with store.write() as s:
            deployments.transition(
                session=s, deployment_id=deployment_id, from_statuses=["pending", "running"], to_status=to,
                reason="service web is unhealthy" if to == "failed" else "", new_attempt=to == "running",
            )  # fmt: skip


def _notified(store: Store, after: int) -> list[tuple[str, str]]:
    """(kind, app) of each notification the events after `after` call for."""
    with store.read() as s:
        found = [from_event(e.to_pb()) for e in events.list_after(session=s, after_seq=after, limit=0)]
    return [(note.event, note.app) for note in found if note is not None]


def _last_seq(store: Store) -> int:
    with store.read() as s:
        found = events.list_after(session=s, after_seq=0, limit=0)
        return found[-1].seq if found else 0


def test_a_failed_update_and_its_rollback_notify_nobody_themselves(store: Store) -> None:
    """The update's deployment and its rollback's carry `reported_by`: the update's own event
    (`update_rolled_back`, appended by the worker) is the one message; a plain deploy still notifies."""
    mark = _last_seq(store)
    update = _update(store, json.dumps({"reported_by": "update", "update": {"previous": 1, "targets": []}}))
    _fail(store, update)
    with store.write() as s:
        _version, _app, rollback = versions.create_version(
            session=s, app_name="blog", compose="a", env="", author="appos", message="back to v1",
            source="auto_rollback", expected_version=2, deploy=True, rollback_to=1,
            rollback_cause="service web is unhealthy", options_json=json.dumps({"reported_by": "update"}),
        )  # fmt: skip
        assert rollback is not None
    _fail(store, rollback.id)  # a rollback that failed too: the update's update_failed says so
    with store.read() as s:
        marked = [
            json.loads(e.payload_json).get("reported_by")
            for e in events.list_after(session=s, after_seq=mark, limit=0)
            if e.type in ("deployment_status", "version_created")
        ]
    assert marked and set(marked) == {"update"}, marked
    assert _notified(store, mark) == []

    # without the mark (an edit deployed, then its automatic rollback), each is told
    mark = _last_seq(store)
    with store.write() as s:
        _version, _app, edit = versions.create_version(
            session=s, app_name="blog", compose="c", env="", author="bob", message="", source="edit",
            expected_version=3, deploy=True,
        )  # fmt: skip
        assert edit is not None
    _fail(store, edit.id)
    with store.write() as s:
        versions.create_version(
            session=s, app_name="blog", compose="a", env="", author="appos", message="automatic rollback",
            source="auto_rollback", expected_version=4, deploy=True, rollback_to=1,
        )  # fmt: skip
    assert _notified(store, mark) == [("deployment_failed", "blog"), ("auto_rollback", "blog")]
