"""How many calls a request makes to state: the deployer's app and version flows against the real
State servicer (SQLite in a temporary folder) on a Unix socket, each call it answers counted. State
refuses what only it knows (a name taken, an unknown app) itself: nobody asks it first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from appos.v1 import state_pb2, state_pb2_grpc
from services.common.errors import AlreadyExists, NotFound
from services.common.grpc_server import build_server
from services.common.state_client import StateClient
from services.deployer.apps import Apps, NewApp
from services.deployer.catalog import Catalog
from services.deployer.settings import DeployerSettings
from services.deployer.versions import Edit, Versions
from services.state.db import make_engine, migrate
from services.state.servicer import StateServicer
from services.state.store import Store

COMPOSE = "services:\n  web:\n    image: busybox\n"


class _Counted:
    """The State servicer, with the name of each method called in `calls`."""

    def __init__(self, servicer: StateServicer) -> None:
        self.servicer = servicer
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.servicer, name)

        def counted(request: Any, context: Any) -> Any:
            self.calls.append(name)
            return method(request, context)

        return counted


class _NoContainers:
    def list(self, **_: Any) -> list[Any]:
        return []


class _NoContainersApi:
    def containers(self, **_: Any) -> list[Any]:
        return []


class _Docker:
    """An engine with no containers at all (no port is held, nothing runs)."""

    containers = _NoContainers()
    api = _NoContainersApi()

    def close(self) -> None:
        pass


@pytest.fixture
def calls_and_apps(tmp_path: Path) -> Iterator[tuple[list[str], Apps, list[str]]]:
    engine = make_engine(tmp_path / "appos.db")
    migrate(engine)
    counted = _Counted(StateServicer(Store(engine), hash_key=b"k" * 32))
    socket = tmp_path / "state.sock"
    name = state_pb2.DESCRIPTOR.services_by_name["State"].full_name
    server, _ = build_server(
        socket_path=socket, services=[(state_pb2_grpc.add_StateServicer_to_server, counted, name)]
    )
    server.start()
    state = StateClient(socket)
    queued: list[str] = []

    def enqueue(deployment_id: str, server: str) -> None:
        assert server == "local"  # the queue of the app's server, known without asking state again
        queued.append(deployment_id)

    apps = Apps(
        settings=DeployerSettings(data=tmp_path / "data", port=0, grpc_port=0),
        catalog=Catalog({}),
        state=state,
        enqueue=enqueue,
        docker_factory=_Docker,
    )
    yield counted.calls, apps, queued
    state.close()
    server.stop(None)
    engine.dispose()


def _counting(calls: list[str], flow: Callable[[], object]) -> list[str]:
    calls.clear()
    flow()
    return list(calls)


def test_a_create_is_one_call_and_a_taken_name_is_refused_by_state(
    calls_and_apps: tuple[list[str], Apps, list[str]],
) -> None:
    calls, apps, queued = calls_and_apps
    spec = NewApp(name="blog", compose=COMPOSE)
    created = apps.create(spec=spec, actor="ada", role="admin")
    assert calls == ["CreateApp"] and queued == [created.deployment.id]
    calls.clear()
    with pytest.raises(AlreadyExists, match="^app 'blog' already exists$"):
        apps.create(spec=spec, actor="ada", role="admin")
    assert calls == ["CreateApp"] and len(queued) == 1


def test_an_edit_and_a_redeploy_are_two_calls(calls_and_apps: tuple[list[str], Apps, list[str]]) -> None:
    calls, apps, queued = calls_and_apps
    versions = Versions(apps)
    apps.create(spec=NewApp(name="blog", compose=COMPOSE), actor="ada", role="admin")
    tag = versions.compose_files(app="blog", role="admin").etag

    def edit(compose_text: str, *, if_match: str, deploy: bool) -> Edit:
        return Edit(compose_text, "", "edit", if_match, overwrite_drift=False, deploy=deploy)

    saved = edit(COMPOSE.replace("busybox", "busybox:1"), if_match=tag, deploy=False)
    assert _counting(calls, lambda: versions.save_edit(app="blog", edit=saved, actor="ada")) == [
        "GetApp",
        "CreateVersion",
    ]
    tag = versions.compose_files(app="blog", role="admin").etag
    deployed = edit(COMPOSE.replace("busybox", "busybox:2"), if_match=tag, deploy=True)
    assert _counting(calls, lambda: versions.save_edit(app="blog", edit=deployed, actor="ada")) == [
        "GetApp",
        "CreateVersion",
    ]
    assert _counting(calls, lambda: apps.redeploy(app="blog", actor="ada")) == ["GetApp", "CreateDeployment"]
    assert len(queued) == 3


def test_an_action_on_an_unknown_app_is_refused_by_state(
    calls_and_apps: tuple[list[str], Apps, list[str]],
) -> None:
    calls, apps, queued = calls_and_apps
    with pytest.raises(NotFound):
        apps.act(app="ghost", action="start", actor="ada")
    assert calls == ["CreateDeployment"] and queued == []
