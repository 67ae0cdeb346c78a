"""The deploy pipeline with real parts: gateway → deployer → Celery on Redis → worker → Compose v2
→ dockerd, with the FROM-scratch busybox test templates (tests/templates)."""

from __future__ import annotations

import threading
import urllib.request
import uuid
from typing import Any

import pytest

from tests.harness import Stack, docker_client, free_port, wait_for


def _name(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _project_containers(app: str) -> list[Any]:
    client = docker_client()
    try:
        return list(
            client.containers.list(all=True, filters={"label": f"com.docker.compose.project=appos-{app}"})
        )
    finally:
        client.close()


def _volumes(app: str) -> list[str]:
    client = docker_client()
    try:
        return [
            v.name for v in client.volumes.list(filters={"label": f"com.docker.compose.project=appos-{app}"})
        ]
    finally:
        client.close()


def _app(stack: Stack, token: str, app: str) -> dict[str, Any]:
    with stack.client(token) as c:
        r = c.get(f"/api/v1/apps/{app}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _wait_status(stack: Stack, token: str, app: str, status: str) -> dict[str, Any]:
    result: dict[str, Any] = wait_for(
        lambda: (a := _app(stack, token, app))["status"] == status and a,
        timeout=30,
        what=f"{app} to be {status}",
    )
    return result


@pytest.mark.usefixtures("busybox_image")
def test_deploy_a_template_then_operate_and_remove_it(stack: Stack, admin_token: str) -> None:
    app, port = _name("web"), free_port()
    reply, deployment = stack.deploy(
        admin_token,
        {
            "name": app,
            "template": "busybox-httpd",
            "settings": {"HTTP_PORT": str(port), "MESSAGE": "hi there"},
        },
    )
    assert reply["app"]["name"] == app and reply["deployment"]["status"] == "pending"
    secret = reply["generated"]["SECRET"]
    assert len(secret) >= 20
    assert deployment["status"] == "succeeded", deployment
    assert deployment["action"] == "deploy" and deployment["actor"] == "admin"

    running = _wait_status(stack, admin_token, app, "running")
    assert running["web_port"] == port
    assert [s["service"] for s in running["services"]] == ["web"]
    assert running["services"][0]["health"] == "healthy"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
        assert page.read().decode().strip() == "hi there"

    with stack.client(admin_token) as c:
        logs = c.get(f"/api/v1/apps/{app}/logs", params={"tail": 50}).json()["lines"]
        assert ("web", "serving hi there") in [(x["service"], x["line"]) for x in logs]
        assert all(x["time"] for x in logs)  # Docker's own timestamp on each line
        lines = c.get(f"/api/v1/deployments/{deployment['id']}/logs").json()["lines"]
        assert lines[0]["line"] == "compose policy: checked against the files on disk"  # before every start
        assert lines[1]["line"].startswith("$ docker compose up")
        assert any("Started" in line["line"] or "Healthy" in line["line"] for line in lines)
        # the generated secret is in the app's .env, not in any output
        assert not any(secret in line["line"] for line in lines)
        env_file = stack.data / "apps" / app / ".env"
        assert secret in env_file.read_text()
        assert env_file.stat().st_mode & 0o777 == 0o600

    assert stack.act(admin_token, app, "stop")["status"] == "succeeded"
    stopped = _wait_status(stack, admin_token, app, "stopped")
    assert stopped["services"][0]["state"] == "exited"
    assert stack.act(admin_token, app, "start")["status"] == "succeeded"
    _wait_status(stack, admin_token, app, "running")
    before = _project_containers(app)[0].attrs["State"]["StartedAt"]
    assert stack.act(admin_token, app, "restart")["status"] == "succeeded"
    assert _project_containers(app)[0].attrs["State"]["StartedAt"] != before
    _wait_status(stack, admin_token, app, "running")

    assert _volumes(app), "the template's named volume exists"
    removed = stack.act(admin_token, app, "remove", remove_volumes="true")
    assert removed["status"] == "succeeded", removed
    assert _project_containers(app) == []
    assert _volumes(app) == []
    assert not (stack.data / "apps" / app).exists()
    with stack.client(admin_token) as c:
        assert c.get(f"/api/v1/apps/{app}").status_code == 404
        history = c.get("/api/v1/deployments", params={"app": app}).json()["deployments"]
    assert [d["action"] for d in history] == ["remove", "restart", "start", "stop", "deploy"]


@pytest.mark.usefixtures("busybox_image")
def test_remove_keeps_volumes_unless_asked(stack: Stack, admin_token: str) -> None:
    app = _name("keep")
    _, deployment = stack.deploy(
        admin_token, {"name": app, "template": "busybox-httpd", "settings": {"HTTP_PORT": str(free_port())}}
    )
    assert deployment["status"] == "succeeded"
    assert stack.act(admin_token, app, "remove")["status"] == "succeeded"
    assert _project_containers(app) == []
    kept = _volumes(app)
    assert kept == [f"appos-{app}_data"]
    client = docker_client()
    try:
        client.volumes.get(kept[0]).remove()
    finally:
        client.close()


@pytest.mark.usefixtures("busybox_image")
def test_a_container_that_exits_1_fails_the_deployment_naming_the_service(
    stack: Stack, admin_token: str
) -> None:
    app = _name("crash")
    _, deployment = stack.deploy(admin_token, {"name": app, "template": "busybox-crash"})
    assert deployment["status"] == "failed"
    assert deployment["reason"] == "service job exited with code 1"
    failed = _wait_status(stack, admin_token, app, "failed")
    assert "job" in failed["status_message"]
    with stack.client(admin_token) as c:
        logs = c.get(f"/api/v1/apps/{app}/logs").json()["lines"]
    assert ("job", "cannot continue") in [(x["service"], x["line"]) for x in logs]
    assert stack.act(admin_token, app, "remove")["status"] == "succeeded"


@pytest.mark.usefixtures("busybox_image")
def test_raw_compose_and_env(stack: Stack, admin_token: str) -> None:
    app = _name("raw")
    compose = (
        "services:\n  one:\n    image: appos-test/busybox:latest\n    pull_policy: never\n    init: true\n"
        '    command: ["sh", "-c", "echo ${GREETING} && exec sleep 3600"]\n'
    )
    _, deployment = stack.deploy(admin_token, {"name": app, "compose": compose, "env": "GREETING=bonjour\n"})
    assert deployment["status"] == "succeeded", deployment
    _wait_status(stack, admin_token, app, "running")
    with stack.client(admin_token) as c:
        lines = c.get(f"/api/v1/apps/{app}/logs", params={"service": "one"}).json()["lines"]
    assert ("one", "bonjour") in [(x["service"], x["line"]) for x in lines]
    assert stack.act(admin_token, app, "remove")["status"] == "succeeded"


BAD_REQUESTS = [
    ({"name": "../x", "template": "busybox-httpd"}, "app name"),
    ({"name": "A B", "template": "busybox-httpd"}, "app name"),
    ({"name": "x" * 41, "template": "busybox-httpd"}, "at most 40"),
    ({"name": "okname", "template": "no-such-template"}, "unknown template"),
    ({"name": "okname", "template": "busybox-httpd", "settings": {"NOPE": "1"}}, "unknown setting"),
    ({"name": "okname", "template": "busybox-httpd", "settings": {"HTTP_PORT": "eighty"}}, "whole number"),
    ({"name": "okname", "template": "busybox-httpd", "settings": {"HTTP_PORT": "70000"}}, "port"),
    ({"name": "okname", "template": "busybox-httpd", "settings": {"MESSAGE": "a\nb"}}, "line breaks"),
    ({"name": "okname", "compose": "services: [unclosed"}, "not valid"),
    ({"name": "okname", "compose": "services:\n  a:\n    image: x\n    ports: ['${P}:80']\n"}, "variables"),
    ({"name": "okname", "compose": "services: {}\n"}, "no services"),
    ({"name": "okname", "compose": "services:\n  a:\n    image: x\n", "env": "not a line\n"}, "KEY=value"),
    ({"name": "okname"}, "template"),
    ({"name": "okname", "template": "busybox-httpd", "compose": "services: {}"}, "not both"),
]


@pytest.mark.parametrize(("body", "needle"), BAD_REQUESTS)
def test_bad_deploy_requests_are_400_and_create_nothing(
    stack: Stack, admin_token: str, body: dict[str, Any], needle: str
) -> None:
    with stack.client(admin_token) as c:
        before = c.get("/api/v1/apps").json()["apps"]
        deployments_before = c.get("/api/v1/deployments", params={"page_size": 500}).json()["deployments"]
        r = c.post("/api/v1/apps", json=body)
        assert r.status_code == 400, r.text
        error = r.json()
        assert error["code"] == "invalid_argument"
        assert needle.lower() in error["message"].lower(), error
        assert c.get("/api/v1/apps").json()["apps"] == before
        assert (
            c.get("/api/v1/deployments", params={"page_size": 500}).json()["deployments"]
            == deployments_before
        )
    assert not (stack.data / "apps" / "okname").exists()
    assert _project_containers("okname") == []


def test_unknown_app_and_deployment_are_404(stack: Stack, admin_token: str) -> None:
    with stack.client(admin_token) as c:
        assert c.get("/api/v1/apps/nothere").status_code == 404
        assert c.post("/api/v1/apps/nothere/start", json={}).status_code == 404
        assert c.get("/api/v1/apps/nothere/logs").status_code == 404
        assert c.get("/api/v1/deployments/0123456789abcdef").status_code == 404
        assert c.get("/api/v1/apps/BAD NAME/logs").status_code == 400
        assert c.get("/api/v1/catalog/nope").status_code == 404


@pytest.mark.usefixtures("busybox_image")
def test_two_deploys_of_one_app_at_once_are_serialized_and_both_recorded(
    stack: Stack, admin_token: str
) -> None:
    app = _name("pair")
    _, first = stack.deploy(
        admin_token, {"name": app, "template": "busybox-httpd", "settings": {"HTTP_PORT": str(free_port())}}
    )
    assert first["status"] == "succeeded"
    ids: list[str] = []

    def redeploy() -> None:
        with stack.client(admin_token) as c:
            r = c.post(f"/api/v1/apps/{app}/redeploy", json={})
        assert r.status_code == 202
        ids.append(r.json()["deployment"]["id"])

    threads = [threading.Thread(target=redeploy) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ended = [stack.wait_deployment(admin_token, i) for i in ids]
    assert [d["status"] for d in ended] == ["succeeded", "succeeded"]
    a, b = sorted(ended, key=lambda d: d["started_at"])
    assert a["finished_at"] <= b["started_at"], "the app lock serializes deployments"
    assert len(_project_containers(app)) == 1
    _wait_status(stack, admin_token, app, "running")
    assert stack.act(admin_token, app, "remove", remove_volumes="true")["status"] == "succeeded"


@pytest.mark.usefixtures("busybox_image")
def test_cancel_a_running_deployment(stack: Stack, admin_token: str) -> None:
    app = _name("slow")
    with stack.client(admin_token) as c:
        r = c.post(
            "/api/v1/apps", json={"name": app, "template": "busybox-slow", "settings": {"DELAY": "60"}}
        )
        assert r.status_code == 202
        deployment_id = r.json()["deployment"]["id"]
        wait_for(
            lambda: c.get(f"/api/v1/deployments/{deployment_id}").json()["status"] == "running",
            timeout=30,
            what="the deployment to run",
        )
        cancel = c.post(f"/api/v1/deployments/{deployment_id}/cancel", json={})
        assert cancel.status_code == 200
    ended = stack.wait_deployment(admin_token, deployment_id, timeout=60)
    assert ended["status"] == "cancelled"
    with stack.client(admin_token) as c:
        again = c.post(f"/api/v1/deployments/{deployment_id}/cancel", json={})
    assert again.status_code == 400
    assert stack.act(admin_token, app, "remove", remove_volumes="true")["status"] == "succeeded"


def test_catalog(stack: Stack, admin_token: str) -> None:
    with stack.client(admin_token) as c:
        everything = c.get("/api/v1/catalog").json()
        assert len(everything["templates"]) >= 23  # 20+ built in, plus the test templates
        assert "test" in everything["categories"]
        found = c.get("/api/v1/catalog", params={"search": "busybox httpd"}).json()["templates"]
        assert [t["name"] for t in found] == ["busybox-httpd"]
        assert found[0]["compose"] == ""
        only_tests = c.get("/api/v1/catalog", params={"category": "test"}).json()["templates"]
        assert {t["category"] for t in only_tests} == {"test"}
        detail = c.get("/api/v1/catalog/busybox-httpd").json()
    assert "httpd" in detail["compose"]
    settings = {s["key"]: s for s in detail["settings"]}
    assert settings["HTTP_PORT"]["type"] == "int" and settings["HTTP_PORT"]["default"] == "18080"
    assert settings["SECRET"]["type"] == "password"
    assert detail["web_service"] == "web" and detail["web_port"] == 8080


def test_viewer_cannot_deploy(stack: Stack, admin_token: str) -> None:
    username, password = _name("v"), "viewer-password"
    with stack.client(admin_token) as c:
        assert (
            c.post(
                "/api/v1/users", json={"username": username, "password": password, "role": "viewer"}
            ).status_code
            == 200
        )
    viewer = stack.login(username, password)
    with stack.client(viewer) as c:
        assert c.get("/api/v1/apps").status_code == 200
        assert c.post("/api/v1/apps", json={"name": "x1", "template": "busybox-httpd"}).status_code == 403
        assert c.post("/api/v1/apps/x1/stop", json={}).status_code == 403
        assert c.delete("/api/v1/apps/x1").status_code == 403
