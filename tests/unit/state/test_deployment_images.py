"""A deployment keeps what it ran (per service: image, digest, image ID) once it succeeded, every
read of it carries them, and deployments can be listed per config version (real SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appos.v1 import apps_pb2
from services.common.errors import NotFound
from services.state import apps, deployments, versions
from services.state.db import make_engine, migrate
from services.state.store import Store

WEB = {
    "service": "web",
    "image": "nginx:latest",
    "digest": "sha256:" + "a" * 64,
    "image_id": "sha256:" + "b" * 64,
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    engine = make_engine(tmp_path / "appos.db")
    migrate(engine)
    yield Store(engine)
    engine.dispose()


def _deployment(store: Store) -> str:
    """A deploy of the app's current version (the app is made at the first call)."""
    with store.write() as s:
        try:
            app = apps.get_app(session=s, name="blog")
        except NotFound:
            app = apps.create_app(
                session=s, name="blog", template="", compose="services: {}\n", env="", web_service="",
                web_port=0, actor="alice",
            )  # fmt: skip
            versions.add_version(
                session=s,
                app=app,
                compose="services: {}\n",
                env="",
                author="alice",
                message="",
                source="create",
            )
        return deployments.create_deployment(
            session=s, app=app, action="deploy", actor="alice", options_json="{}"
        ).id


def _end(store: Store, deployment_id: str, status: str, images: list[dict[str, str]]) -> None:
    with store.write() as s:
        deployments.transition(
            session=s, deployment_id=deployment_id, from_statuses=["pending"], to_status="running",
            reason="", new_attempt=True,
        )  # fmt: skip
    with store.write() as s:
        deployments.transition(
            session=s, deployment_id=deployment_id, from_statuses=["running"], to_status=status,
            reason="", new_attempt=False, images=[apps_pb2.ServiceImage(**i) for i in images],
        )  # fmt: skip


def test_a_succeeded_deployment_keeps_its_images_in_every_read(store: Store) -> None:
    first = _deployment(store)
    with store.read() as s:
        assert list(deployments.get_deployment(session=s, deployment_id=first).to_pb().images) == []
    _end(
        store,
        first,
        "succeeded",
        [WEB, {"service": "db", "image": "postgres:16", "digest": "sha256:" + "c" * 64}],
    )
    with store.read() as s:
        pb = deployments.get_deployment(session=s, deployment_id=first).to_pb()
        listed, _ = deployments.list_deployments(
            session=s, app="blog", statuses=[], page_size=0, page_token=""
        )
        app_pb = apps.app_pb(session=s, app=apps.get_app(session=s, name="blog"))
    assert [(i.service, i.image, i.digest, i.image_id) for i in pb.images] == [
        ("web", "nginx:latest", WEB["digest"], WEB["image_id"]),
        ("db", "postgres:16", "sha256:" + "c" * 64, ""),
    ]
    assert listed[0].to_pb().images == pb.images
    assert app_pb.last_deployment.images == pb.images  # the list read (plain rows) fills them too
    assert app_pb.last_version_deployment.images == pb.images


def test_a_failed_deployment_keeps_no_images(store: Store) -> None:
    failed = _deployment(store)
    _end(store, failed, "failed", [WEB])
    with store.read() as s:
        assert list(deployments.get_deployment(session=s, deployment_id=failed).to_pb().images) == []


def test_deployments_listed_per_version(store: Store) -> None:
    first = _deployment(store)
    with store.write() as s:
        app = apps.get_app(session=s, name="blog")
        versions.add_version(
            session=s,
            app=app,
            compose="services: {a: {}}\n",
            env="",
            author="alice",
            message="",
            source="edit",
        )
    second = _deployment(store)
    with store.read() as s:
        v1, _ = deployments.list_deployments(
            session=s, app="blog", statuses=[], page_size=0, page_token="", version=1
        )
        v2, _ = deployments.list_deployments(
            session=s, app="blog", statuses=[], page_size=0, page_token="", version=2
        )
        both, _ = deployments.list_deployments(session=s, app="blog", statuses=[], page_size=0, page_token="")
    assert [d.id for d in v1] == [first]
    assert [d.id for d in v2] == [second]
    assert {d.id for d in both} == {first, second}
