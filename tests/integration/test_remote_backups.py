"""Backups of a remote app's opted-in volumes (issue 21), on a real stack and a real remote server
(tests/remote.py): the backup copies the volume from the server's engine (through its forwarded
socket), and a restore with force takes the app down there, puts the volume back there and redeploys
it there. Nothing of it is on this machine's engine."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import Stack, docker_client, running_stack, wait_for
from tests.remote import RemoteServer, remote_server

pytestmark = [pytest.mark.xdist_group("servers")]

COMPOSE = """services:
  web:
    image: appos-test/busybox:latest
    pull_policy: never
    init: true
    command: ["sh", "-c", "mkdir -p /www/data && echo up > /www/index.html && httpd -f -p 8080 -h /www"]
    ports:
      - "18090:8080"
    volumes:
      - data:/www/data
volumes:
  data: {}
"""


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    # no APPOS_BACKUP_HELPER_IMAGE: the helper is the empty image AppOS makes itself, on each engine
    with running_stack(tmp_path_factory.mktemp("remote-backups")) as stack:
        yield stack


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory, own_stack: Stack) -> Iterator[RemoteServer]:
    """A remote server, added to the stack as `far`."""
    with remote_server(tmp_path_factory.mktemp("far"), name="far") as server:
        server.add_to(own_stack, own_stack.login())
        yield server


def _exec(remote: RemoteServer, app: str, command: str) -> str:
    """`command` in the app's container on the remote engine, as an admin there would run it."""
    client = remote.docker_client()
    try:
        (container,) = client.containers.list(filters={"label": f"com.docker.compose.project=appos-{app}"})
        code, out = container.exec_run(["sh", "-c", command])
    finally:
        client.close()
    assert code == 0, out
    return str(out.decode()).strip()


def _backup(stack: Stack, token: str) -> dict[str, Any]:
    with stack.client(token) as c:
        r = c.post("/api/v1/backups", json={"include_volumes": True, "message": "remote volume"})
    assert r.status_code == 202, r.text
    backup_id = r.json()["id"]

    def done() -> dict[str, Any] | None:
        with stack.client(token) as c:
            got: dict[str, Any] = c.get(f"/api/v1/backups/{backup_id}").json()
        return got if got["status"] != "running" else None

    result: dict[str, Any] = wait_for(done, timeout=120, interval=0.2, what=f"backup {backup_id}")
    assert result["status"] == "succeeded", result
    return result


def _local_volumes(app: str) -> list[str]:
    client = docker_client()
    try:
        return [v.name for v in client.volumes.list(filters={"name": f"appos-{app}_"})]
    finally:
        client.close()


def test_a_remote_apps_volume_is_backed_up_and_restored_on_its_server(
    own_stack: Stack, remote: RemoteServer
) -> None:
    password = own_stack.admin_password()  # a restore removes the file (the backup's password holds)
    token = own_stack.login("admin", password)
    app = f"farbk{uuid.uuid4().hex[:6]}"
    _, deployment = own_stack.deploy(token, {"name": app, "server": "far", "compose": COMPOSE, "env": ""})
    assert deployment["status"] == "succeeded", deployment
    _exec(remote, app, "echo keep-me > /www/data/proof.txt")
    with own_stack.client(token) as c:
        r = c.patch(f"/api/v1/apps/{app}/options", json={"backup_volumes": True})
        assert r.status_code == 200 and r.json()["backup_volumes"], r.text

    backup = _backup(own_stack, token)
    assert [(a["name"], a["volumes"]) for a in backup["apps"]] == [(app, ["data"])]

    # the volume changes on the server; a restore with force brings the backup's content back there
    _exec(remote, app, "echo changed-since > /www/data/proof.txt")
    with own_stack.client(token) as c:
        r = c.post("/api/v1/backups/restore", json={"backup_id": backup["id"], "force": True})
    assert r.status_code == 202, r.text
    ended = own_stack.wait_restore(r.json()["restore"]["id"])
    assert ended["status"] == "succeeded", ended
    [redeploy] = ended["deployment_ids"]
    token = own_stack.login("admin", password)  # a restore ends the login tokens
    assert own_stack.wait_deployment(token, redeploy)["status"] == "succeeded"
    assert _exec(remote, app, "cat /www/data/proof.txt") == "keep-me"
    assert any(app in name for name in remote.containers()), remote.containers()
    assert _local_volumes(app) == []  # nothing of it on this machine's engine

    assert own_stack.act(token, app, "remove", remove_volumes="true")["status"] == "succeeded"
    assert not any(app in name for name in remote.containers()), remote.containers()
    assert remote.ssh_connections() == 1  # all of it through the server's one connection
