"""Issue 15 end to end, as a hostile operator would try it through REST against a real engine: the
two-service symlink escape and its variants end refused with nothing of the host visible in any
container; the policy runs again at start and restart; validation stores nothing; an admin's
host-path exception allows exactly its path."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Stack, docker_client

IMAGE = "    image: appos-test/busybox:latest\n    pull_policy: never\n    init: true\n"

# The attack as reported: `planter` may mount the app's own folder and replaces ./data with a link to
# /; `reader` starts after it and mounts ./data, which Docker then follows to the host's root.
ESCAPE = (
    "services:\n"
    "  planter:\n"
    + IMAGE
    + '    command: ["sh", "-c", "rm -rf /app/data && ln -s / /app/data && sleep 3600"]\n'
    "    volumes: ['.:/app']\n"
    "  reader:\n" + IMAGE + '    command: ["sh", "-c", "ls /host && sleep 3600"]\n'
    "    depends_on: [planter]\n"
    "    volumes: ['./data:/host']\n"
)


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def operator_token(stack: Stack, admin_token: str) -> str:
    username, password = _name("op"), f"pw-{uuid.uuid4().hex}"
    with stack.client(admin_token) as c:
        r = c.post("/api/v1/users", json={"username": username, "password": password, "role": "operator"})
    assert r.status_code == 200, r.text
    return stack.login(username, password)


def _containers(app: str) -> list[Any]:
    client = docker_client()
    try:
        return list(
            client.containers.list(all=True, filters={"label": f"com.docker.compose.project=appos-{app}"})
        )
    finally:
        client.close()


def _exec(container: Any, *command: str) -> str:
    result = container.exec_run(list(command))
    return str(result.output.decode(errors="replace"))


@pytest.fixture
def data_app(stack: Stack, admin_token: str, operator_token: str, busybox_image: str) -> Iterator[str]:
    """An operator's app whose one service mounts ./data (allowed), running."""
    app = _name("esc")
    compose = (
        "services:\n  keeper:\n"
        + IMAGE
        + '    command: ["sleep", "3600"]\n'
        + "    volumes: ['./data:/data']\n"
    )
    _, deployment = stack.deploy(operator_token, {"name": app, "compose": compose})
    assert deployment["status"] == "succeeded", deployment
    yield app
    folder = stack.data / "apps" / app / "data"
    if folder.is_symlink():
        folder.unlink()
    with stack.client(admin_token) as c:
        r = c.delete(f"/api/v1/apps/{app}", params={"remove_volumes": "true"})
    if r.status_code == 202:
        stack.wait_deployment(admin_token, r.json()["deployment"]["id"])


def test_the_reported_symlink_escape_is_refused_and_creates_nothing(
    stack: Stack, admin_token: str, operator_token: str, busybox_image: str
) -> None:
    app = _name("esc")
    with stack.client(operator_token) as c:
        checked = c.post("/api/v1/apps:validate", json={"name": app, "compose": ESCAPE})
        created = c.post("/api/v1/apps", json={"name": app, "compose": ESCAPE})
    for r in (checked, created):
        assert r.status_code == 400, r.text
        message = r.json()["message"]
        assert "service planter: volume .:/app mounts the app's own folder" in message, message
        assert "holds ./data (service reader: volume ./data:/host)" in message, message
        assert "never allowed" in message
    assert checked.json()["message"] == created.json()["message"], "validate answers what a create would"
    # no exception lifts it, not even every rule an admin could grant
    with stack.client(admin_token) as c:
        rules = c.post(
            "/api/v1/apps",
            json={"name": app, "compose": ESCAPE, "allow": ["privileged", "host_path:/", "container"]},
        )
        assert rules.status_code == 400 and "never allowed" in rules.json()["message"]
        assert c.get(f"/api/v1/apps/{app}").status_code == 404
    assert not (stack.data / "apps" / app).exists()
    assert _containers(app) == []


def test_a_symlink_planted_by_a_running_container_is_never_followed(
    stack: Stack, operator_token: str, data_app: str
) -> None:
    app = data_app
    (keeper,) = _containers(app)
    _exec(keeper, "ln", "-s", "/", "/data/root")  # what a hostile app does inside its own mount
    assert (stack.data / "apps" / app / "data" / "root").is_symlink()
    with stack.client(operator_token) as c:
        current = c.get(f"/api/v1/apps/{app}/compose")
        etag = current.headers["etag"]
        reader = (
            "  reader:\n"
            + IMAGE
            + '    command: ["sleep", "3600"]\n'
            + "    volumes: ['./data/root:/host']\n"
        )
        # both services: ./data holds ./data/root
        both = {"compose": current.json()["compose"] + reader, "env": ""}
        r = c.put(
            f"/api/v1/apps/{app}/compose", json=both, headers={"If-Match": etag}, params={"deploy": "true"}
        )
        assert r.status_code == 400 and "holds ./data/root" in r.json()["message"], r.text
        # only the reader: the running keeper still mounts ./data, and ./data/root is a link
        alone = {"compose": "services:\n" + reader, "env": ""}
        r = c.put(
            f"/api/v1/apps/{app}/compose", json=alone, headers={"If-Match": etag}, params={"deploy": "true"}
        )
        assert r.status_code == 400, r.text
        message = r.json()["message"]
        assert "./data/root is a symbolic link" in message or "which a running container" in message, message
        assert c.get(f"/api/v1/apps/{app}/compose").headers["etag"] == etag, "nothing stored"
    assert [c.labels["com.docker.compose.service"] for c in _containers(app)] == ["keeper"]


def test_a_version_mounting_inside_a_running_mount_is_refused_while_it_runs_and_deploys_once_stopped(
    stack: Stack, operator_token: str, data_app: str
) -> None:
    """The check answers what the deploy will: while the keeper mounts ./data, a version mounting
    ./data/sub is refused for deploying (the keeper could swap ./data/sub first) but can be saved,
    and deploys once the app is stopped (a stopped container writes nothing)."""
    app = data_app
    narrower = (
        "services:\n  keeper:\n"
        + IMAGE
        + '    command: ["sleep", "3600"]\n'
        + "    volumes: ['./data/sub:/data']\n"
    )
    with stack.client(operator_token) as c:
        checked = c.post("/api/v1/apps:validate", json={"name": app, "compose": narrower})
        assert checked.status_code == 200, checked.text
        assert any("while the app runs would be refused" in w for w in checked.json()["warnings"]), (
            checked.json()
        )
        etag = c.get(f"/api/v1/apps/{app}/compose").headers["etag"]
        files = {"compose": narrower, "env": ""}
        now = c.put(
            f"/api/v1/apps/{app}/compose", json=files, headers={"If-Match": etag}, params={"deploy": "true"}
        )
        assert now.status_code == 400 and "stop the app, then deploy this version" in now.json()["message"], (
            now.text
        )
        assert "An admin can allow none of these: change the file." in now.json()["message"]
        saved = c.put(f"/api/v1/apps/{app}/compose", json=files, headers={"If-Match": etag})
        assert saved.status_code == 200, saved.text
    assert stack.act(operator_token, app, "stop")["status"] == "succeeded"
    deployed = stack.act(operator_token, app, "redeploy")
    assert deployed["status"] == "succeeded", deployed


@pytest.mark.parametrize("action", ["start", "restart"])
def test_a_symlink_made_later_refuses_start_and_restart(
    stack: Stack, operator_token: str, data_app: str, tmp_path: Path, action: str
) -> None:
    """./data swapped for a link to a host folder (what a container of an older, unchecked version
    could do, or someone with a shell): starting or restarting the app is refused, naming the path,
    and no container sees the host folder; a real folder again, and it starts."""
    app = data_app
    if action == "start":
        assert stack.act(operator_token, app, "stop")["status"] == "succeeded"
    host = tmp_path / "host-secrets"
    host.mkdir()
    (host / "secret.txt").write_text("host only")
    folder = stack.data / "apps" / app / "data"
    shutil.rmtree(folder)
    folder.symlink_to(host)
    refused = stack.act(operator_token, app, action)
    assert refused["status"] == "failed", refused
    assert "./data is a symbolic link" in refused["reason"], refused["reason"]
    assert "refused before Compose ran" in refused["reason"]
    for container in _containers(app):
        if container.status == "running":
            assert "secret.txt" not in _exec(container, "ls", "/data")
        assert all(m.get("Source") != str(host) for m in container.attrs.get("Mounts") or [])
    folder.unlink()
    folder.mkdir()
    assert stack.act(operator_token, app, action)["status"] == "succeeded"


def test_validate_stores_nothing_and_checks_as_a_create_would(
    stack: Stack, admin_token: str, operator_token: str, data_app: str
) -> None:
    fresh = _name("val")
    benign = (
        "version: '3'\nservices:\n  web:\n" + IMAGE + "    env_file: .env\n    volumes: ['./data:/data']\n"
    )
    with stack.client(operator_token) as c:
        ok = c.post(
            "/api/v1/apps:validate", json={"name": fresh, "compose": benign, "env": "cluster.name=x\n"}
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["services"] == ["web"]
        assert any("obsolete" in w for w in ok.json()["warnings"]), ok.json()
        assert c.get(f"/api/v1/apps/{fresh}").status_code == 404
        denied = c.post(
            "/api/v1/apps:validate", json={"name": fresh, "compose": benign, "allow": ["privileged"]}
        )
        assert denied.status_code == 403
        hostile = benign.replace("./data:/data", "/etc:/host-etc")
        refused = c.post("/api/v1/apps:validate", json={"name": data_app, "compose": hostile})
        assert refused.status_code == 400 and "(rule host_path:/etc)" in refused.json()["message"]
    assert not (stack.data / "apps" / fresh).exists()
    viewer, password = _name("vw"), f"pw-{uuid.uuid4().hex}"
    with stack.client(admin_token) as c:
        c.post("/api/v1/users", json={"username": viewer, "password": password, "role": "viewer"})
    with stack.client(stack.login(viewer, password)) as c:
        assert c.post("/api/v1/apps:validate", json={"name": fresh, "compose": benign}).status_code == 403


def test_a_host_path_exception_allows_exactly_its_path(
    stack: Stack, admin_token: str, operator_token: str, busybox_image: str, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    (media / "films").mkdir(parents=True)
    (media / "films" / "a.txt").write_text("film")
    (tmp_path / "other").mkdir()
    app = _name("media")
    compose = (
        "services:\n  web:\n" + IMAGE + '    command: ["sleep", "3600"]\n'
        f"    volumes: ['{media}/films:/films:ro']\n"
    )
    with stack.client(operator_token) as c:
        r = c.post("/api/v1/apps", json={"name": app, "compose": compose})
        assert r.status_code == 400 and f"(rule host_path:{media}/films)" in r.json()["message"], r.text
    with stack.client(admin_token) as c:
        wide = c.post(
            "/api/v1/apps", json={"name": app, "compose": compose, "allow": [f"host_path:{tmp_path}/other"]}
        )
        assert wide.status_code == 400, "another path's exception does not cover this one"
    _, deployment = stack.deploy(
        admin_token, {"name": app, "compose": compose, "allow": [f"host_path:{media}"]}
    )
    assert deployment["status"] == "succeeded", deployment
    (web,) = _containers(app)
    assert "a.txt" in _exec(web, "ls", "/films")
    assert stack.act(admin_token, app, "remove")["status"] == "succeeded"
