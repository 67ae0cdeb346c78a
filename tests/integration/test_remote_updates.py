"""Image updates and automatic rollbacks of an app on a remote server (issues 19 and 21), on a real
stack, a real registry and a real remote server (tests/remote.py: a network namespace with its own
dockerd and sshd). The registry runs on this machine's loopback; `tests/netns_bridge.py` makes the
same port answer on the namespace's loopback, so both engines pull `127.0.0.1:<port>/…` over plain
HTTP as Docker allows on loopback, and AppOS's update check asks the same registry.

The update's every step happens on the server's engine: the volume snapshot, the pull, the
redeploy, the health gate, and after a bad version the rollback with its volumes restored there. A
failing edit is rolled back automatically there too. Nothing of the app ever runs on this machine's
engine. Nothing leaves the machine."""

from __future__ import annotations

import hashlib
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import Stack, app_containers, docker_client, start_stack, wait_for
from tests.netns_bridge import bridged_port
from tests.registry import LocalRegistry, push_web, remove_images, start_registry
from tests.remote import RemoteServer, remote_server

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("remote_updates")]

REPOSITORY = "appos-test/farweb"
COMPOSE = """\
services:
  web:
    image: {image}
    init: true
    ports:
      - "{port}:8080"
    volumes:
      - data:/data
volumes:
  data:
"""

PAGE = """\
services:
  web:
    image: appos-test/busybox:latest
    pull_policy: never
    restart: "no"
    command: ["sh", "-c", "mkdir -p /www && echo {message} > /www/version && {run}"]
    ports:
      - "{port}:8080"
"""
SERVE = "exec httpd -f -p 8080 -h /www"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    """The health gate's settle period is shorter here (default 10 s)."""
    running = start_stack(
        tmp_path_factory.mktemp("remote-updates"), extra_env={"APPOS_UPDATE_SETTLE_SECONDS": "4"}
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def token(stack: Stack) -> str:
    return stack.login()


@pytest.fixture(scope="module")
def registry(
    tmp_path_factory: pytest.TempPathFactory, busybox_image: str
) -> Iterator[tuple[LocalRegistry, dict[str, str]]]:
    """The registry with 1.0.0, 1.1.0 and a bad 1.5.0-broken; tag → digest."""
    client = docker_client()
    running = start_registry(tmp_path_factory.mktemp("registry"))
    try:
        digests = {
            tag: push_web(
                client, running.image(REPOSITORY, tag), content=f"web {tag}", bad=tag.endswith("broken")
            )
            for tag in ("1.0.0", "1.1.0", "1.5.0-broken")
        }
        yield running, digests
    finally:
        running.stop()
        remove_images(client, running)
        client.close()


@pytest.fixture(scope="module")
def far(
    tmp_path_factory: pytest.TempPathFactory,
    stack: Stack,
    token: str,
    registry: tuple[LocalRegistry, dict[str, str]],
) -> Iterator[RemoteServer]:
    """A remote server, added as `far`, that reaches the registry at the address AppOS knows it by."""
    with (
        remote_server(tmp_path_factory.mktemp("far"), name="far") as server,
        bridged_port(server, registry[0].port),
    ):
        server.add_to(stack, token)
        yield server


def _serves(server: RemoteServer, port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{server.address}:{port}/version", timeout=3) as page:
            return str(page.read().decode().strip())
    except OSError:
        return None


def _web(server: RemoteServer, app: str) -> Any:
    client = server.docker_client()
    try:
        found = client.containers.list(filters={"label": [f"com.docker.compose.project=appos-{app}"]})
    finally:
        client.close()
    assert len(found) == 1, found
    return found[0]


def _volume_checksum(server: RemoteServer, app: str) -> str:
    """SHA-256 over every file of the app's `data` volume on the server (names and contents)."""
    client = server.docker_client()
    try:
        script = 'cd /v && find . -type f | sort | while read f; do echo "$f"; cat "$f"; done'
        out: bytes = client.containers.run(
            server.image, ["sh", "-c", script],
            volumes={f"appos-{app}_data": {"bind": "/v", "mode": "ro"}}, remove=True, network_disabled=True,
        )  # fmt: skip
    finally:
        client.close()
    return hashlib.sha256(out).hexdigest() + " " + out.decode(errors="replace").replace("\n", "|")


def _update(stack: Stack, token: str, app: str, body: dict[str, Any]) -> dict[str, Any]:
    with stack.client(token) as c:
        r = c.post(f"/api/v1/apps/{app}/update", json=body)
    assert r.status_code == 202, r.text
    return stack.wait_deployment(token, r.json()["deployment"]["id"], timeout=180)


def _logs(stack: Stack, token: str, deployment_id: str) -> str:
    with stack.client(token) as c:
        lines = c.get(f"/api/v1/deployments/{deployment_id}/logs").json()["lines"]
    return " | ".join(line["line"] for line in lines)


def test_an_update_and_the_rollback_of_a_bad_one_happen_on_the_apps_server(
    stack: Stack, token: str, registry: tuple[LocalRegistry, dict[str, str]], far: RemoteServer
) -> None:
    hub, digests = registry
    app, port = f"fu{uuid.uuid4().hex[:8]}", 18180
    compose = COMPOSE.format(image=hub.image(REPOSITORY, "1.0.0"), port=port)
    _, deployment = stack.deploy(token, {"name": app, "server": "far", "compose": compose})
    assert deployment["status"] == "succeeded", deployment
    try:
        with stack.client(token) as c:
            r = c.patch(f"/api/v1/apps/{app}/options", json={"backup_volumes": True})
            assert r.status_code == 200, r.text
            assert c.post("/api/v1/updates/check", json={}).status_code == 202

            def offered() -> list[tuple[str, str]]:
                rows = c.get("/api/v1/updates").json()["updates"]
                return [(u["kind"], u["candidate_tag"]) for u in rows if u["app"] == app]

            found = wait_for(offered, timeout=60, what="the update check of the remote app")
            assert ("minor", "1.1.0") in found, found
        assert wait_for(lambda: _serves(far, port), timeout=20, what="1.0.0 served") == "web 1.0.0"

        # a minor update: pulled by the server's engine, run there, its digest recorded
        done = _update(stack, token, app, {})
        assert done["status"] == "succeeded", done
        assert [(i["service"], i["digest"]) for i in done["images"]] == [("web", digests["1.1.0"])]
        assert wait_for(lambda: _serves(far, port) == "web 1.1.0", timeout=20, what="1.1.0 served")
        logs = _logs(stack, token, done["id"])
        for step in ("snapshot", "pull", "redeploy", "health"):
            assert f"update: {step} succeeded" in logs, logs
        assert "copying the app's files to server far" in logs, logs

        # a bad version: it runs on the server, writes over the volume, fails its healthcheck; the
        # server's volume comes back from the snapshot and the digest 1.1.0 had runs again there
        before = _volume_checksum(far, app)
        assert "seeded by web 1.0.0" in before
        bad = _update(stack, token, app, {"services": {"web": "1.5.0-broken"}})
        assert bad["status"] == "failed" and "rolled back to v2" in bad["reason"], bad
        assert _volume_checksum(far, app) == before
        web = _web(far, app)
        assert web.attrs["Config"]["Image"] == f"{hub.host}/{REPOSITORY}@{digests['1.1.0']}"
        assert wait_for(lambda: _serves(far, port) == "web 1.1.0", timeout=20, what="1.1.0 served again")
        assert "volumes copied: data" in _logs(stack, token, bad["id"])
        with stack.client(token) as c:
            state = c.get(f"/api/v1/apps/{app}").json()
        assert state["status"] == "running" and state["server"] == "far", state

        # none of it ever ran on this machine's engine
        assert not [x for x in app_containers(stack.data / "apps") if app in str(x.get("Names"))]
    finally:
        stack.remove_app(token, app)
    assert not any(app in name for name in far.containers()), far.containers()
    assert far.ssh_connections() == 1


def test_a_failing_edit_on_a_remote_server_is_rolled_back_there(
    stack: Stack, token: str, far: RemoteServer
) -> None:
    app, port = f"fr{uuid.uuid4().hex[:8]}", 18181
    first = PAGE.format(message="first", run=SERVE, port=port)
    _, deployment = stack.deploy(token, {"name": app, "server": "far", "compose": first})
    assert deployment["status"] == "succeeded", deployment
    try:
        assert wait_for(lambda: _serves(far, port), timeout=20, what="v1 served") == "first"
        with stack.client(token) as c:
            current = c.get(f"/api/v1/apps/{app}/compose")
            r = c.put(
                f"/api/v1/apps/{app}/compose",
                json={"compose": PAGE.format(message="second", run="exit 3", port=port), "env": ""},
                params={"deploy": "true"},
                headers={"If-Match": current.headers["etag"]},
            )
        assert r.status_code == 200, r.text
        failed = stack.wait_deployment(token, r.json()["deployment"]["id"])
        assert failed["status"] == "failed", failed
        assert failed["reason"] == "service web exited with code 3; rolled back automatically to v1 (as v3)"
        with stack.client(token) as c:
            versions = c.get(f"/api/v1/apps/{app}/versions").json()["versions"]
        assert [(v["number"], v["source"]) for v in versions[:2]] == [(3, "auto_rollback"), (2, "edit")]
        assert stack.wait_deployment(token, versions[0]["deployment_id"])["status"] == "succeeded"
        assert wait_for(lambda: _serves(far, port) == "first", timeout=30, what="v1 served again there")
        assert _web(far, app).status == "running"
        assert not [x for x in app_containers(stack.data / "apps") if app in str(x.get("Names"))]
    finally:
        stack.remove_app(token, app)
