"""Apps on a remote server (issue 21), on a real stack and a real remote server (tests/remote.py: a
network namespace with its own dockerd and sshd): `POST /api/v1/apps` with `"server"` deploys there
through the server's one SSH connection — its containers run on the remote engine and answer at the
server's address, none on this machine's — and its status, logs, stats, an edit, a rollback and its
removal all go to that engine. A server apps live on cannot be removed; an unknown server is refused.
Nothing leaves the machine."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import Stack, app_containers, running_stack, wait_for
from tests.remote import RemoteServer, remote_server

pytestmark = [pytest.mark.xdist_group("servers")]

COMPOSE = """services:
  web:
    image: appos-test/busybox:latest
    pull_policy: never
    init: true
    command:
      - sh
      - -c
      - >-
        mkdir -p /www && echo $${MESSAGE} > /www/index.html && echo serving $${MESSAGE}
        && httpd -f -p 8080 -h /www
    environment:
      MESSAGE: ${MESSAGE}
    ports:
      - "${PORT}:8080"
"""


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("remote-apps")) as stack:
        yield stack


@pytest.fixture(scope="module")
def token(own_stack: Stack) -> str:
    return own_stack.login()


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory, own_stack: Stack, token: str) -> Iterator[RemoteServer]:
    """A remote server, added to the stack as `far`."""
    with remote_server(tmp_path_factory.mktemp("far"), name="far") as server:
        server.add_to(own_stack, token)
        yield server


def _page(address: str, port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/", timeout=5) as page:
            return str(page.read().decode().strip())
    except OSError:
        return None


def _app(stack: Stack, token: str, name: str) -> dict[str, Any]:
    with stack.client(token) as c:
        found: dict[str, Any] = c.get(f"/api/v1/apps/{name}").json()
    return found


def test_an_app_deploys_runs_and_is_removed_on_a_remote_server(
    own_stack: Stack, token: str, remote: RemoteServer
) -> None:
    name, port = f"far{uuid.uuid4().hex[:6]}", 18080
    body = {"name": name, "server": "far", "compose": COMPOSE, "env": f"MESSAGE=one\nPORT={port}\n"}
    _, deployment = own_stack.deploy(token, body)
    assert deployment["status"] == "succeeded", deployment
    app = _app(own_stack, token, name)
    assert app["server"] == "far" and app["status"] == "running", app
    assert wait_for(lambda: _page(remote.address, port), timeout=20, what="the remote app's page") == "one"
    assert any(name in c for c in remote.containers()), remote.containers()
    assert not [c for c in app_containers(own_stack.data / "apps") if name in str(c.get("Names"))]

    with own_stack.client(token) as c:
        # its logs and stats come from the remote engine
        r = c.get(f"/api/v1/apps/{name}/logs", params={"tail": 50})
        assert r.status_code == 200, r.text
        assert ("web", "serving one") in [(x["service"], x["line"]) for x in r.json()["lines"]], r.json()
        stats = c.get(f"/api/v1/apps/{name}/stats")
        assert stats.status_code == 200 and stats.json()["containers"], stats.text
        # the server cannot go while the app lives there
        r = c.delete("/api/v1/servers/far")
        assert r.status_code == 400 and "live on server" in r.json()["message"], r.text

        # an edit deployed at once, then a rollback to v1
        current = c.get(f"/api/v1/apps/{name}/compose")
        r = c.put(
            f"/api/v1/apps/{name}/compose",
            json={"compose": COMPOSE, "env": f"MESSAGE=two\nPORT={port}\n"},
            params={"deploy": "true"},
            headers={"If-Match": current.headers["etag"]},
        )
        assert r.status_code == 200, r.text
        own_stack.wait_deployment(token, r.json()["deployment"]["id"])
        assert wait_for(lambda: _page(remote.address, port) == "two", timeout=30, what="v2 served")
        r = c.post(f"/api/v1/apps/{name}/rollback", json={"version": 1})
        assert r.status_code == 202, r.text
        done = own_stack.wait_deployment(token, r.json()["deployment"]["id"])
        assert done["status"] == "succeeded", done
        assert wait_for(lambda: _page(remote.address, port) == "one", timeout=30, what="v1 served again")

        # stop and start go there too
        for action, status in (("stop", "stopped"), ("start", "running")):
            r = c.post(f"/api/v1/apps/{name}/{action}", json={})
            assert r.status_code == 202, r.text
            own_stack.wait_deployment(token, r.json()["deployment"]["id"])
            assert _app(own_stack, token, name)["status"] == status

        r = c.delete(f"/api/v1/apps/{name}", params={"remove_volumes": "true"})
        assert r.status_code == 202, r.text
        assert own_stack.wait_deployment(token, r.json()["deployment"]["id"])["status"] == "succeeded"
    assert not any(name in c for c in remote.containers()), remote.containers()
    assert remote.ssh_connections() == 1  # everything went through the one connection


def test_an_unknown_server_is_refused(own_stack: Stack, token: str) -> None:
    with own_stack.client(token) as c:
        r = c.post(
            "/api/v1/apps",
            json={
                "name": "nowhere1",
                "server": "nowhere",
                "compose": COMPOSE,
                "env": "MESSAGE=x\nPORT=18081\n",
            },
        )
        assert r.status_code == 400 and "does not exist" in r.json()["message"], r.text
        assert c.get("/api/v1/apps/nowhere1").status_code == 404
