"""The update check of every app (`updates/job.py`) against the real State servicer (SQLite in a
temporary folder, on a Unix socket): each app's newest succeeded deployment's images are checked,
one app's failure never stops the others (it keeps its previous findings), a registry failure is
that service's `unknown`, and an image built locally is `unknown` with its reason; and the daily
schedule. The registry is a checker function passed in (the real registry's check is
tests/integration/test_update_check.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from appos.v1 import apps_pb2, state_pb2, state_pb2_grpc
from services.common.errors import NotFound
from services.common.grpc_server import build_server
from services.common.state_client import StateClient
from services.common.timestamps import now_us
from services.deployer.updates.check import ImageCheck, Update
from services.deployer.updates.job import BUILT_LOCALLY, check_all, recheck_app
from services.deployer.updates.registry import RegistryClient
from services.deployer.updates.schedule import SETTING_LAST_SCHEDULED, UpdateSchedule
from services.deployer.updates.tags import UpdateKind
from services.state import apps, deployments, versions
from services.state.db import make_engine, migrate
from services.state.servicer import StateServicer
from services.state.store import Store


def _digest(char: str) -> str:
    return "sha256:" + char * 64


@pytest.fixture
def store_and_state(tmp_path: Path) -> Iterator[tuple[Store, StateClient]]:
    engine = make_engine(tmp_path / "appos.db")
    migrate(engine)
    store = Store(engine)
    socket = tmp_path / "state.sock"
    name = state_pb2.DESCRIPTOR.services_by_name["State"].full_name
    server, _ = build_server(
        socket_path=socket,
        services=[
            (state_pb2_grpc.add_StateServicer_to_server, StateServicer(store, hash_key=b"k" * 32), name)
        ],
    )
    server.start()
    state = StateClient(socket)
    yield store, state
    state.close()
    server.stop(None)
    engine.dispose()


def _deployed(store: Store, app: str, images: list[apps_pb2.ServiceImage], status: str = "succeeded") -> None:
    with store.write() as s:
        try:
            record = apps.get_app(session=s, name=app)
        except NotFound:
            record = apps.create_app(
                session=s, name=app, template="", compose="services: {}\n", env="", web_service="",
                web_port=0, actor="alice",
            )  # fmt: skip
            versions.add_version(
                session=s, app=record, compose="services: {}\n", env="", author="alice", message="",
                source="create",
            )  # fmt: skip
        deployment_id = deployments.create_deployment(
            session=s, app=record, action="deploy", actor="alice", options_json="{}"
        ).id
    with store.write() as s:
        deployments.transition(
            session=s, deployment_id=deployment_id, from_statuses=["pending"], to_status="running",
            reason="", new_attempt=True,
        )  # fmt: skip
    with store.write() as s:
        deployments.transition(
            session=s, deployment_id=deployment_id, from_statuses=["running"], to_status=status,
            reason="", new_attempt=False, images=images,
        )  # fmt: skip


def _image(service: str, image: str, digest: str, image_id: str) -> apps_pb2.ServiceImage:
    return apps_pb2.ServiceImage(service=service, image=image, digest=digest, image_id=image_id)


class Registry:
    """What each image's check answers; an image named in `broken` raises (a bug, not a registry
    failure: check_image itself never raises for those)."""

    def __init__(self) -> None:
        self.broken: set[str] = set()
        self.asked: list[str] = []

    def __call__(self, *, client: RegistryClient, image: str, running_digest: str | None) -> ImageCheck:
        self.asked.append(image)
        if image in self.broken:
            raise RuntimeError(f"unexpected failure checking {image}")
        if image.startswith("down.test/"):
            return ImageCheck(
                image=image, current_tag="1.0.0", running_digest=running_digest,
                error="cannot reach the registry down.test: connection refused",
            )  # fmt: skip
        return ImageCheck(
            image=image, current_tag="1.0.0", running_digest=running_digest,
            registry_digest=running_digest,
            updates=(
                Update(UpdateKind.PATCH, "1.0.1", _digest("e")),
                Update(UpdateKind.MAJOR, "2.0.0", _digest("f")),
            ),
        )  # fmt: skip


def _rows(state: StateClient, app: str = "") -> list[tuple[str, str, str, str, str]]:
    reply = state.stub.ListUpdateChecks(state_pb2.StateListUpdateChecksRequest(app=app))
    return [(u.app, u.service, u.kind, u.candidate_tag, u.reason) for u in reply.updates]


def test_every_app_is_checked_whatever_another_one_does(store_and_state: tuple[Store, StateClient]) -> None:
    store, state = store_and_state
    _deployed(store, "alpha", [_image("web", "ok.test/web:1.0.0", _digest("a"), _digest("1"))])
    _deployed(store, "beta", [_image("web", "ok.test/beta:1.0.0", _digest("b"), _digest("2"))])
    _deployed(store, "gamma", [_image("api", "down.test/api:1.0.0", _digest("c"), _digest("3"))])
    _deployed(store, "delta", [_image("app", "delta-app", _digest("4"), _digest("4"))])  # built here
    _deployed(store, "never", [], status="failed")  # no succeeded deployment: nothing to check
    registry = Registry()

    first = check_all(
        state=state, make_client=RegistryClient, actor="alice", origin="request", checker=registry
    )
    assert (first.apps, first.updates, first.unknown, first.new_updates) == (5, 4, 2, 4)
    assert _rows(state) == [
        ("alpha", "web", "patch", "1.0.1", ""),
        ("alpha", "web", "major", "2.0.0", ""),
        ("beta", "web", "patch", "1.0.1", ""),
        ("beta", "web", "major", "2.0.0", ""),
        ("delta", "app", "unknown", "", BUILT_LOCALLY),
        ("gamma", "api", "unknown", "", "cannot reach the registry down.test: connection refused"),
    ]
    assert "delta-app" not in registry.asked  # a local image is never asked about

    # beta's check now raises: alpha, gamma and delta are still checked, beta keeps what it had
    registry.broken.add("ok.test/beta:1.0.0")
    _deployed(store, "alpha", [_image("web", "ok.test/web:1.0.0", _digest("a"), _digest("1"))])
    second = check_all(
        state=state, make_client=RegistryClient, actor="scheduler", origin="schedule", checker=registry
    )
    assert second.apps == 4 and second.new_updates == 0
    assert registry.asked[-3:] == ["ok.test/web:1.0.0", "ok.test/beta:1.0.0", "down.test/api:1.0.0"]
    assert _rows(state, "beta") == [
        ("beta", "web", "patch", "1.0.1", ""),
        ("beta", "web", "major", "2.0.0", ""),
    ]
    assert len(_rows(state)) == 6


def test_the_newest_succeeded_deployment_with_images_is_what_is_checked(
    store_and_state: tuple[Store, StateClient],
) -> None:
    store, state = store_and_state
    _deployed(store, "alpha", [_image("web", "ok.test/web:0.9.0", _digest("9"), _digest("1"))])
    _deployed(store, "alpha", [_image("web", "ok.test/web:1.0.0", _digest("a"), _digest("1"))])
    _deployed(
        store, "alpha", [_image("web", "ok.test/web:3.0.0", _digest("b"), _digest("1"))], status="failed"
    )
    _deployed(store, "alpha", [])  # succeeded without images (as a stop records none)
    registry = Registry()
    check_all(state=state, make_client=RegistryClient, actor="alice", origin="request", checker=registry)
    assert registry.asked == ["ok.test/web:1.0.0"]


def test_the_job_id_is_in_updates_checked_and_an_update_rechecks_its_app_alone(
    store_and_state: tuple[Store, StateClient],
) -> None:
    store, state = store_and_state
    _deployed(store, "alpha", [_image("web", "ok.test/web:1.0.0", _digest("a"), _digest("1"))])
    _deployed(store, "beta", [_image("web", "ok.test/beta:1.0.0", _digest("b"), _digest("2"))])
    registry = Registry()
    check_all(
        state=state, make_client=RegistryClient, actor="alice", origin="request", job="j1", checker=registry
    )
    # alpha's update to 1.0.1 succeeded: its deployment is not recorded yet, what it runs is passed in
    now = [_image("web", "ok.test/web:1.0.1", _digest("e"), _digest("5"))]
    reply = recheck_app(
        state=state, make_client=RegistryClient, app="alpha", running=now, actor="bob", checker=registry
    )
    assert reply.apps == 1 and reply.new_updates == 0
    assert registry.asked[-1] == "ok.test/web:1.0.1" and "ok.test/beta:1.0.0" not in registry.asked[2:]
    rows = state.stub.ListUpdateChecks(state_pb2.StateListUpdateChecksRequest()).updates
    assert {(u.app, u.current_digest) for u in rows} == {("alpha", _digest("e")), ("beta", _digest("b"))}
    checked = state.stub.ListEvents(state_pb2.StateListEventsRequest(after_seq=0, limit=0)).events
    payloads = [json.loads(e.payload_json) for e in checked if e.type == "updates_checked"]
    assert [(p["job"], p["origin"], p["apps"]) for p in payloads] == [("j1", "request", 2), ("", "update", 1)]


def test_the_schedule_queues_a_check_when_due_and_counts_from_its_first_tick(
    store_and_state: tuple[Store, StateClient],
) -> None:
    _, state = store_and_state
    queued: list[tuple[str, str]] = []
    schedule = UpdateSchedule(schedule="every:24", state=state, enqueue=lambda *a: queued.append(a))
    assert schedule.tick() is False  # the first tick starts the count
    assert schedule.tick() is False  # not a day yet
    day_ago = now_us() - 24 * 3600 * 1_000_000 - 1
    state.stub.PutSetting(
        state_pb2.StatePutSettingRequest(key=SETTING_LAST_SCHEDULED, value_json=str(day_ago))
    )
    assert schedule.tick() is True
    assert queued == [("scheduler", "schedule")]
    assert schedule.tick() is False  # counted again from this run
    off = UpdateSchedule(schedule="", state=state, enqueue=lambda *a: queued.append(a))
    state.stub.PutSetting(
        state_pb2.StatePutSettingRequest(key=SETTING_LAST_SCHEDULED, value_json=str(day_ago))
    )
    assert off.tick() is False and len(queued) == 1
