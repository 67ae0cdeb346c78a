"""The app list (four reads for any number of apps) says of each app what `app_pb` says of it
alone: status from containers and deployments, its newest deployment and the newest that applied a
version (real SQLite, no server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from appos.v1 import apps_pb2, state_pb2
from services.state import apps, deployments, settings_store
from services.state.db import make_engine, migrate
from services.state.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    engine = make_engine(tmp_path / "appos.db")
    migrate(engine)
    yield Store(engine)
    engine.dispose()


def _deploy(
    store: Store, name: str, action: str, *statuses: str, options: dict[str, object] | None = None
) -> None:
    with store.write() as s:
        app = apps.get_app(session=s, name=name)
        deployment = deployments.create_deployment(
            session=s, app=app, action=action, actor="alice", options_json=json.dumps(options or {})
        )
        deployment_id = deployment.id
    current = "pending"
    for status in statuses:
        with store.write() as s:
            deployments.transition(
                session=s, deployment_id=deployment_id, from_statuses=[current], to_status=status,
                reason=f"{action} {status}", new_attempt=status == "running",
            )  # fmt: skip
        current = status


def _reference(store: Store) -> list[object]:
    with store.read() as s:
        return [apps.app_pb(session=s, app=app) for app in apps.list_apps(session=s)]


def _listed(store: Store, memo: apps.AppMessages | None = None) -> list[apps_pb2.App]:
    reply = state_pb2.StateListAppsReply()
    with store.read() as s:
        apps.fill_app_list(reply.apps, session=s, memo=memo)
    return list(reply.apps)


def test_the_list_equals_each_app_read_alone(store: Store) -> None:
    for name in ("zeta", "alpha", "bravo", "charlie", "delta", "echo", "fox"):
        with store.write() as s:
            app = apps.create_app(
                session=s, name=name, template="t" if name < "d" else "", compose="services: {}\n",
                env="A=1", web_service="web", web_port=8080, actor="alice",
            )  # fmt: skip
            app.policy_exceptions_json = json.dumps(["host_network"] if name == "bravo" else [])
            app.auto_rollback = name != "charlie"
    # alpha: none; bravo: a deploy under way; charlie: deployed, then stopped (the newest does not
    # apply a version); delta: an automatic rollback; echo: a failed start after a deploy; fox:
    # redeployed, then restarted; zeta: a failed deploy.
    _deploy(store, "bravo", "deploy", "running")
    _deploy(store, "charlie", "deploy", "running", "succeeded")
    _deploy(store, "charlie", "stop", "running", "succeeded")
    origin = {"source": "auto_rollback", "rollback_from": 3, "rollback_to": 2, "rollback_cause": "x"}
    _deploy(store, "delta", "redeploy", "running", "succeeded", options={"origin": origin})
    _deploy(store, "echo", "deploy", "running", "succeeded")
    _deploy(store, "echo", "start", "running", "failed")
    _deploy(store, "fox", "deploy", "running", "succeeded")
    _deploy(store, "fox", "redeploy", "running", "succeeded")
    _deploy(store, "fox", "restart", "running", "succeeded")
    _deploy(store, "zeta", "deploy", "running", "failed")
    services = [{"service": "web", "container": "c1", "state": "running", "health": "healthy"}]
    for name, status in (("charlie", "stopped"), ("echo", "stopped"), ("fox", "running")):
        with store.write() as s:
            apps.update_runtime(session=s, name=name, status=status, status_message="", services=services)

    with store.write() as s:  # the backups' volume opt-in, kept as settings by the deployer
        values = {
            "backup.volumes.delta": "true",
            "backup.volumes.echo": "false",
            "backup.volumes.gone": "true",
        }
        settings_store.put_settings(session=s, values=values, actor="alice")

    listed = _listed(store)
    assert [app.name for app in listed] == ["alpha", "bravo", "charlie", "delta", "echo", "fox", "zeta"]
    assert listed == _reference(store)
    by_name = {app.name: app for app in listed}
    assert by_name["bravo"].status == "deploying"
    assert by_name["charlie"].last_deployment.action == "stop"
    assert by_name["charlie"].last_version_deployment.action == "deploy"
    assert by_name["delta"].last_version_deployment.rollback_to == 2
    assert by_name["echo"].status == "failed"
    assert by_name["fox"].last_version_deployment.action == "redeploy"
    assert not by_name["alpha"].HasField("last_deployment")
    assert list(by_name["bravo"].policy_exceptions) == ["host_network"]
    assert [app.name for app in listed if app.backup_volumes] == ["delta"]


def test_unchanged_apps_come_from_the_memo_and_changed_ones_do_not(store: Store) -> None:
    for name in ("alpha", "bravo", "charlie"):
        with store.write() as s:
            apps.create_app(
                session=s, name=name, template="", compose="services: {}\n", env="", web_service="",
                web_port=0, actor="alice",
            )  # fmt: skip
    _deploy(store, "bravo", "deploy", "running", "succeeded")
    memo = apps.AppMessages(limit=4)
    assert _listed(store, memo) == _reference(store)
    assert len(memo.found) == 3
    assert _listed(store, memo) == _reference(store)  # all from the memo
    assert len(memo.found) == 3
    services = [{"service": "web", "container": "c1", "state": "running", "health": ""}]
    with store.write() as s:
        apps.update_runtime(session=s, name="alpha", status="running", status_message="", services=services)
    _deploy(store, "bravo", "stop", "running")
    with store.write() as s:
        settings_store.put_settings(session=s, values={"backup.volumes.charlie": "true"}, actor="alice")
    listed = _listed(store, memo)  # three changed apps: past the limit, the memo starts again
    assert listed == _reference(store)
    assert listed[0].status == "running" and listed[0].services[0].container == "c1"
    assert listed[1].last_deployment.action == "stop" and listed[1].last_version_deployment.action == "deploy"
    assert listed[2].backup_volumes
    assert len(memo.found) <= 4
    assert _listed(store, memo) == _reference(store)


def test_an_empty_list(store: Store) -> None:
    assert _listed(store) == []
