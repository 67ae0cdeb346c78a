"""Which server's engine the Docker watcher refreshes an app from (deployer/watcher.py): an event of
an app state placed on that server needs no question to state; any other event asks it, so a
container another server still has under the app's name never speaks for the app."""

from __future__ import annotations

from typing import Any

from appos.v1 import apps_pb2, state_pb2
from services.common.errors import NotFound
from services.common.labels import PROJECT_LABEL, project_name
from services.deployer.watcher import DockerWatcher


class _Stub:
    def __init__(self, placed: dict[str, str]) -> None:
        self.placed = placed  # app → server
        self.asked: list[str] = []

    def ListApps(self, request: Any) -> state_pb2.StateListAppsReply:
        return state_pb2.StateListAppsReply(
            apps=[apps_pb2.App(name=name, server=server) for name, server in self.placed.items()]
        )

    def GetApp(self, request: state_pb2.StateGetAppRequest) -> state_pb2.AppRecord:
        self.asked.append(request.name)
        if request.name not in self.placed:
            raise NotFound(f"app {request.name} does not exist")
        return state_pb2.AppRecord(app=apps_pb2.App(name=request.name, server=self.placed[request.name]))


class _State:
    def __init__(self, stub: _Stub) -> None:
        self.stub = stub


def _event(app: str, action: str = "start") -> dict[str, Any]:
    return {"Action": action, "Actor": {"Attributes": {PROJECT_LABEL: project_name(app)}}}


def _watcher(placed: dict[str, str]) -> tuple[DockerWatcher, _Stub, list[tuple[str, str]]]:
    stub = _Stub(placed)
    refreshed: list[tuple[str, str]] = []
    watcher = DockerWatcher(
        state=_State(stub),  # type: ignore[arg-type]
        docker_factory=lambda: None,
        refresh=lambda app, server: refreshed.append((app, server)),
    )
    return watcher, stub, refreshed


def test_an_event_of_an_app_synced_on_that_server_asks_state_nothing() -> None:
    watcher, stub, refreshed = _watcher({"blog": "far", "shop": "local"})
    watcher.sync("far")
    assert refreshed == [("blog", "far")]
    watcher._event(_event("blog"), "far")
    watcher._event(_event("blog", "health_status: healthy"), "far")
    assert refreshed[1:] == [("blog", "far"), ("blog", "far")]
    assert stub.asked == []


def test_an_app_first_seen_is_looked_up_once_and_one_of_another_server_is_refreshed_from_its_own() -> None:
    watcher, stub, refreshed = _watcher({"new": "far", "shop": "local"})
    watcher._event(_event("new"), "far")
    watcher._event(_event("new"), "far")
    assert stub.asked == ["new"]  # known from then on
    # a container on far under the name of an app that runs on local: refreshed from local
    watcher._event(_event("shop"), "far")
    watcher._event(_event("shop"), "far")
    assert stub.asked == ["new", "shop", "shop"]
    assert refreshed == [("new", "far"), ("new", "far"), ("shop", "local"), ("shop", "local")]


def test_after_a_destroy_the_app_is_asked_again_and_one_gone_is_not_refreshed() -> None:
    watcher, stub, refreshed = _watcher({"blog": "far"})
    watcher.sync("far")
    del stub.placed["blog"]  # removed; its containers are destroyed
    watcher._event(_event("blog", "destroy"), "far")
    stub.placed["blog"] = "local"  # made again, on another server
    watcher._event(_event("blog", "die"), "far")  # a container far still has under that name
    assert refreshed == [("blog", "far"), ("blog", "local")]
    assert stub.asked == ["blog", "blog"]
