"""An app's status comes from its containers and its newest deployment together; a rollback's
deployment and version say which versions it went from and to (real SQLite, no server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.state import apps, deployments, versions
from services.state.db import make_engine, migrate
from services.state.store import Store

KEY = b"k" * 32


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    engine = make_engine(tmp_path / "appos.db")
    migrate(engine)
    yield Store(engine)
    engine.dispose()


def _app(store: Store, name: str = "blog") -> str:
    """An app at v1 with its first deployment, as state's CreateApp makes it."""
    with store.write() as s:
        app = apps.create_app(
            session=s, name=name, template="", compose="services: {}\n", env="", web_service="",
            web_port=0, actor="alice",
        )  # fmt: skip
        versions.add_version(
            session=s, app=app, compose="services: {}\n", env="", author="alice", message="", source="create"
        )
        deployment = deployments.create_deployment(
            session=s, app=app, action="deploy", actor="alice", options_json="{}"
        )
        return deployment.id


def _move(store: Store, deployment_id: str, *steps: tuple[str, str]) -> None:
    for status, reason in steps:
        with store.write() as s:
            current = deployments.get_deployment(session=s, deployment_id=deployment_id).status
            deployments.transition(
                session=s, deployment_id=deployment_id, from_statuses=[current], to_status=status,
                reason=reason, new_attempt=status == "running",
            )  # fmt: skip


def _runtime(store: Store, status: str, message: str = "", name: str = "blog") -> None:
    with store.write() as s:
        apps.update_runtime(session=s, name=name, status=status, status_message=message, services=[])


def _read(store: Store, name: str = "blog") -> tuple[str, str]:
    with store.read() as s:
        pb = apps.app_pb(session=s, app=apps.get_app(session=s, name=name))
    return pb.status, pb.status_message


def test_a_deploy_that_failed_before_any_container_existed_is_failed_not_stopped(store: Store) -> None:
    first = _app(store)
    assert _read(store) == ("deploying", "deploying version 1")
    _move(store, first, ("running", ""), ("failed", "image x:1 was not found"))
    _runtime(store, "stopped", "no containers")  # what Docker says: nothing was ever created
    assert _read(store) == ("failed", "image x:1 was not found")
    with store.read() as s:
        pb = apps.app_pb(session=s, app=apps.get_app(session=s, name="blog"))
    assert pb.last_deployment.id == first and pb.last_deployment.status == "failed"
    assert pb.last_version_deployment.id == first


def test_containers_decide_once_a_later_action_succeeded(store: Store) -> None:
    first = _app(store)
    _move(store, first, ("running", ""), ("succeeded", ""))
    _runtime(store, "running")
    assert _read(store) == ("running", "")
    with store.write() as s:
        stop = deployments.create_for_app(
            session=s, app_name="blog", action="stop", actor="alice", options_json="{}"
        ).id
    _move(store, stop, ("running", ""), ("succeeded", ""))
    _runtime(store, "stopped")
    assert _read(store) == ("stopped", "")
    with store.read() as s:
        pb = apps.app_pb(session=s, app=apps.get_app(session=s, name="blog"))
    assert pb.last_deployment.action == "stop" and pb.last_version_deployment.id == first


def test_a_failed_start_that_left_the_app_running_does_not_call_it_failed() -> None:
    class Last:
        status, action, reason, version = "failed", "restart", "timed out", 1

    assert apps.effective_status(runtime="running", message="", last=Last()) == ("running", "")
    assert apps.effective_status(runtime="partially_running", message="", last=Last()) == (
        "failed",
        "timed out",
    )


def test_a_rollback_records_the_versions_it_went_from_and_to(store: Store) -> None:
    first = _app(store)
    _move(store, first, ("running", ""), ("succeeded", ""))
    with store.write() as s:
        versions.create_version(
            session=s, app_name="blog", compose="services: {a: {}}\n", env="", author="alice",
            message="", source="edit", expected_version=1, deploy=False,
        )  # fmt: skip
        version, _, deployment = versions.create_version(
            session=s, app_name="blog", compose="services: {}\n", env="", author="appos",
            message="automatic rollback to v1: v2 failed to deploy", source="auto_rollback",
            expected_version=2, deploy=True, rollback_to=1, rollback_cause="service web exited with code 3",
        )  # fmt: skip
        assert deployment is not None
        rollback_id = deployment.id
        assert version.number == 3
    with store.read() as s:
        pb = deployments.get_deployment(session=s, deployment_id=rollback_id).to_pb()
        listed, _ = versions.list_versions(session=s, app="blog", page_size=0, page_token="")
        origin = versions.origins(session=s, found=listed)
        v3 = listed[0].to_pb(hash_key=KEY, origin=origin.get(listed[0].deployment_id))
        app = apps.app_pb(session=s, app=apps.get_app(session=s, name="blog"))
    assert (pb.source, pb.rollback_from, pb.rollback_to, pb.version) == ("auto_rollback", 2, 1, 3)
    assert pb.rollback_cause == "service web exited with code 3"
    assert (v3.source, v3.rollback_from, v3.rollback_to) == ("auto_rollback", 2, 1)
    assert app.last_version_deployment.source == "auto_rollback"
    with store.read() as s:
        first_pb = deployments.get_deployment(session=s, deployment_id=first).to_pb()
    assert (first_pb.source, first_pb.rollback_to) == ("", 0)  # made before origins were kept


def test_a_rollback_must_name_an_earlier_version(store: Store) -> None:
    _app(store)
    with pytest.raises(InvalidArgument), store.write() as s:
        versions.create_version(
            session=s, app_name="blog", compose="x", env="", author="a", message="", source="rollback",
            expected_version=1, deploy=True, rollback_to=0,
        )  # fmt: skip
