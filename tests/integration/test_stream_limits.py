"""Open streams cannot starve anyone (issue 16): a viewer's 50 log follows over REST hold no
service's thread (the gateway reads the Docker engine itself), so the admin's `GET /api/v1/apps`
answers as fast as before they opened; the 51st stream of that viewer is refused with a 429 that
says how many are open and the limit. Real stack, real Docker."""

from __future__ import annotations

import contextlib
import json
import statistics
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.harness import Stack, start_stack, wait_for

pytestmark = pytest.mark.xdist_group("stream_limits")  # one module-scoped stack

LIMIT = 50  # APPOS_STREAMS_PER_USER's default
CALLS = 30  # GET /api/v1/apps calls per measurement
SLOWER = 3.0  # the p50 while the streams are open may be at most this many times the p50 before


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    """A stack of this module's own, with the default limit (the shared one allows more)."""
    running = start_stack(tmp_path_factory.mktemp("limits"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def admin_token(stack: Stack) -> str:
    return stack.login()


@pytest.fixture(scope="module")
def chatty_app(stack: Stack, admin_token: str, busybox_image: str) -> Iterator[str]:
    app = f"chat{uuid.uuid4().hex[:8]}"
    _, deployment = stack.deploy(admin_token, {"name": app, "template": "busybox-chatty"})
    assert deployment["status"] == "succeeded", deployment
    yield app
    stack.act(admin_token, app, "remove")


@pytest.fixture(scope="module")
def viewer_token(stack: Stack, admin_token: str) -> str:
    name, password = f"view{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with stack.client(admin_token) as c:
        r = c.post("/api/v1/users", json={"username": name, "password": password, "role": "viewer"})
    assert r.status_code == 200, r.text
    return stack.login(name, password)


def _apps_p50(stack: Stack, token: str) -> float:
    took = []
    with stack.client(token) as c:
        for _ in range(CALLS):
            start = time.perf_counter()
            r = c.get("/api/v1/apps")
            took.append(time.perf_counter() - start)
            assert r.status_code == 200, r.text
    return statistics.median(took)


def _follow(client: httpx.Client, app: str) -> contextlib.AbstractContextManager[httpx.Response]:
    return client.stream("GET", f"/api/v1/apps/{app}/logs", params={"follow": "true", "tail": "1"})


def test_fifty_log_follows_leave_every_other_call_as_fast_and_the_next_is_refused(
    stack: Stack, admin_token: str, viewer_token: str, chatty_app: str
) -> None:
    before = _apps_p50(stack, admin_token)
    limits = httpx.Limits(max_connections=LIMIT + 10, max_keepalive_connections=0)
    headers = {"Authorization": f"Bearer {viewer_token}"}
    with (
        httpx.Client(base_url=stack.url, headers=headers, timeout=30, limits=limits) as viewer,
        contextlib.ExitStack() as held,
    ):
        follows = [held.enter_context(_follow(viewer, chatty_app)) for _ in range(LIMIT)]
        assert [r.status_code for r in follows] == [200] * LIMIT
        lines = [r.iter_lines() for r in follows]  # (an iterator let go would close its stream)
        for stream in (lines[0], lines[-1]):  # they stream, the first as the last
            first = json.loads(next(stream))
            assert first["service"] == "talk" and first["line"].startswith("line-"), first

        during = _apps_p50(stack, admin_token)

        with _follow(viewer, chatty_app) as refused:
            assert refused.status_code == 429
            error = json.loads(refused.read())
        assert error["code"] == "resource_exhausted" and error["request_id"]
        assert f"has {LIMIT} streams open" in error["message"], error
        assert f"the limit is {LIMIT} per user" in error["message"], error
        r = viewer.get("/api/v1/events")  # every kind of stream counts
        assert r.status_code == 429 and f"has {LIMIT} streams open" in r.json()["message"]

    assert during <= SLOWER * before, f"p50 of GET /api/v1/apps: {before:.4f}s before, {during:.4f}s during"

    # closed streams give their places back
    def reopened() -> bool:
        with (
            httpx.Client(base_url=stack.url, headers=headers, timeout=30) as viewer,
            _follow(viewer, chatty_app) as r,
        ):
            return r.status_code == 200

    wait_for(reopened, timeout=30, interval=0.2, what="a follow once the others were closed")
