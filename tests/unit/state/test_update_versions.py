"""An update's version (issue 19): source `update`, deployed by an `update` deployment that carries
the update's options beside its origin, and counts as applying a version (real SQLite)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.state import apps, deployments, versions
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
