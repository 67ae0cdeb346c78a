"""GET /api/v1/apps/{app}/stats against a real busybox app on the real Docker engine."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.harness import Stack, free_port


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.mark.usefixtures("busybox_image")
def test_stats_of_a_running_app(stack: Stack, admin_token: str) -> None:
    app = _name("st")
    _, deployment = stack.deploy(
        admin_token,
        {"name": app, "template": "busybox-httpd", "settings": {"HTTP_PORT": str(free_port())}},
    )
    assert deployment["status"] == "succeeded", deployment
    try:
        username, password = _name("sv"), "viewer-password"
        with stack.client(admin_token) as c:
            r = c.post("/api/v1/users", json={"username": username, "password": password, "role": "viewer"})
            assert r.status_code == 200, r.text
        viewer = stack.login(username, password)  # a read: viewers may
        with stack.client(viewer) as c:
            r = c.get(f"/api/v1/apps/{app}/stats")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["app"] == app
        sampled = datetime.fromisoformat(body["sampled_at"].replace("Z", "+00:00"))
        assert abs(datetime.now(UTC) - sampled) < timedelta(minutes=5)
        [web] = body["containers"]
        assert web["service"] == "web" and web["container"] == f"appos-{app}-web-1"
        assert web["state"] == "running"
        assert int(web["memory_bytes"]) > 0
        assert int(web["memory_limit_bytes"]) >= int(web["memory_bytes"])
        assert web["cpu_percent"] >= 0.0

        assert stack.act(admin_token, app, "stop")["status"] == "succeeded"
        with stack.client(admin_token) as c:
            stopped = c.get(f"/api/v1/apps/{app}/stats").json()
        [web] = stopped["containers"]
        assert web["state"] == "exited"
        assert int(web["memory_bytes"]) == 0 and web["cpu_percent"] == 0.0
    finally:
        assert stack.act(admin_token, app, "remove", remove_volumes="true")["status"] == "succeeded"


def test_stats_of_an_unknown_app_is_404(stack: Stack, admin_token: str) -> None:
    with stack.client(admin_token) as c:
        r = c.get("/api/v1/apps/nosuchapp/stats")
    assert r.status_code == 404
    body = r.json()
    assert set(body) == {"code", "message", "request_id"}
    assert "nosuchapp" in body["message"]


def test_stats_with_a_bad_name_is_400(stack: Stack, admin_token: str) -> None:
    with stack.client(admin_token) as c:
        r = c.get("/api/v1/apps/Bad_Name/stats")
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"code", "message", "request_id"}


def test_stats_need_a_token(stack: Stack) -> None:
    with stack.client() as c:
        r = c.get("/api/v1/apps/anything/stats")
    assert r.status_code == 401
    assert set(r.json()) == {"code", "message", "request_id"}
