"""Which Docker container events are trouble worth an `app_unhealthy` event."""

from __future__ import annotations

from typing import Any

from appos.v1 import apps_pb2
from services.common.timestamps import MICROS, set_ts
from services.notify.unhealthy import classify, during_deployment

T = 1_767_225_600 * MICROS


def _event(action: str, **attrs: str) -> dict[str, Any]:
    labels = {
        "com.docker.compose.project": "appos-blog",
        "com.docker.compose.service": "web",
        "name": "appos-blog-web-1",
    }
    return {"Action": action, "Actor": {"Attributes": {**labels, **attrs}}, "timeNano": T * 1000}


def test_trouble() -> None:
    crash = classify(_event("die", exitCode="3"))
    assert crash is not None
    assert (crash.app, crash.service, crash.container, crash.exit_code) == (
        "blog",
        "web",
        "appos-blog-web-1",
        3,
    )
    assert crash.reason == "service web exited with code 3" and crash.at_us == T
    sick = classify(_event("health_status: unhealthy"))
    assert sick is not None and sick.reason == "service web is unhealthy"
    oom = classify(_event("oom"))
    assert oom is not None and "out of memory" in oom.reason


def test_normal_events() -> None:
    for code in ("0", "137", "143"):  # exited, or stopped
        assert classify(_event("die", exitCode=code)) is None
    assert classify(_event("health_status: healthy")) is None
    assert classify(_event("start")) is None
    assert classify(_event("die", exitCode="1", **{"com.docker.compose.project": "other"})) is None
    assert classify(_event("die", exitCode="1", **{"com.docker.compose.oneoff": "True"})) is None
    assert classify(_event("die", exitCode="x")) is None


def _deployment(status: str, started: int | None, finished: int | None) -> apps_pb2.Deployment:
    d = apps_pb2.Deployment(id="d", app="blog", status=status)
    if started is not None:
        set_ts(d.started_at, started)
    if finished is not None:
        set_ts(d.finished_at, finished)
    return d


def test_trouble_during_a_deployment_is_the_deployment_s() -> None:
    assert during_deployment(_deployment("running", T - MICROS, None), T)
    assert during_deployment(_deployment("pending", None, None), T)
    assert during_deployment(_deployment("failed", T - MICROS, T + MICROS), T)  # it made the deploy fail
    assert not during_deployment(_deployment("succeeded", T - 9 * MICROS, T - 5 * MICROS), T)  # later
    assert not during_deployment(None, T)
