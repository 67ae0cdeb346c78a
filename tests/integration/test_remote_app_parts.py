"""A remote app's domain, terminal and status (issue 21), on a real stack and a real remote server
(tests/remote.py: a network namespace with its own dockerd and sshd):

- a domain: Caddy on this machine dials the server's address at the port Docker published for the
  container port (as the remote engine reports it), and follows a redeploy that publishes another;
- a terminal: `docker exec` into the container on the remote engine, through the server's socket;
  closing it ends what it started there;
- the events watcher: a container killed on the remote engine behind AppOS's back changes the app's
  status, with no AppOS action."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.proxyctl.caddy import HTTP_SERVER, CaddyAdmin
from tests.harness import Stack, running_stack, wait_for
from tests.integration.test_terminal import open_term
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
        mkdir -p /www && echo $${MESSAGE} > /www/index.html && httpd -f -p 8080 -h /www
    environment:
      MESSAGE: ${MESSAGE}
    ports:
      - "${PORT}:8080"
"""


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("remote-parts")) as stack:
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


def _deploy(stack: Stack, token: str, *, message: str, port: int) -> str:
    name = f"far{uuid.uuid4().hex[:6]}"
    body = {"name": name, "server": "far", "compose": COMPOSE, "env": f"MESSAGE={message}\nPORT={port}\n"}
    _, deployment = stack.deploy(token, body)
    assert deployment["status"] == "succeeded", deployment
    return name


def _remove(stack: Stack, token: str, app: str) -> None:
    assert stack.act(token, app, "remove", remove_volumes="true")["status"] == "succeeded"


def _container(remote: RemoteServer, app: str) -> Any:
    client = remote.docker_client()
    try:
        (found,) = client.containers.list(
            all=True,
            filters={"label": [f"com.docker.compose.project=appos-{app}", "com.docker.compose.service=web"]},
        )
        return found
    finally:
        client.close()


def _status(stack: Stack, token: str, app: str) -> tuple[str, str]:
    with stack.client(token) as c:
        found = c.get(f"/api/v1/apps/{app}").json()
    return found["status"], found.get("status_message", "")


def _caddy_dials(stack: Stack, host: str) -> list[str]:
    """The upstreams Caddy's loaded config dials for `host` (its admin API)."""
    status, body = CaddyAdmin(stack.run_dir / "caddy-admin.sock")._request(
        "GET", f"/config/apps/http/servers/{HTTP_SERVER}/routes"
    )
    assert status == 200, body
    for route in json.loads(body):
        if host in (route.get("match") or [{}])[0].get("host", []):
            return [u["dial"] for h in route["handle"] for u in h.get("upstreams", [])]
    return []


def _through_caddy(stack: Stack, host: str) -> str | None:
    port = int(stack.env["APPOS_PROXY_HTTP_PORT"])
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": host}, timeout=5)
    except httpx.HTTPError:
        return None
    return r.text.strip() if r.status_code == 200 else None


def test_a_domain_for_a_remote_app_dials_the_port_docker_published_there(
    own_stack: Stack, token: str, remote: RemoteServer
) -> None:
    app = _deploy(own_stack, token, message="one", port=18080)
    domain = f"{app}.appos.test"
    with own_stack.client(token) as c:
        # a container port the service does not publish cannot be reached from here: refused
        r = c.post(
            "/api/v1/proxy/domains",
            json={"domain": domain, "app": app, "service": "web", "port": 9090, "https": False},
        )
        assert r.status_code == 400 and "container port 9090 is not published" in r.json()["message"], r.text
        r = c.post(
            "/api/v1/proxy/domains",
            json={"domain": domain, "app": app, "service": "web", "port": 8080, "https": False},
        )
        assert r.status_code == 200, r.text
    ports = _container(remote, app).attrs["NetworkSettings"]["Ports"]["8080/tcp"]
    assert {p["HostPort"] for p in ports} == {"18080"}, ports  # what Docker reports there
    assert _caddy_dials(own_stack, domain) == [f"{remote.address}:18080"]
    assert wait_for(lambda: _through_caddy(own_stack, domain), timeout=20, what="the page via Caddy") == "one"

    # a redeploy that publishes another port: Caddy follows the remote engine's events
    with own_stack.client(token) as c:
        current = c.get(f"/api/v1/apps/{app}/compose")
        r = c.put(
            f"/api/v1/apps/{app}/compose",
            json={"compose": COMPOSE, "env": "MESSAGE=two\nPORT=18082\n"},
            params={"deploy": "true"},
            headers={"If-Match": current.headers["etag"]},
        )
        assert r.status_code == 200, r.text
    assert own_stack.wait_deployment(token, r.json()["deployment"]["id"])["status"] == "succeeded"
    wait_for(
        lambda: _caddy_dials(own_stack, domain) == [f"{remote.address}:18082"],
        timeout=30,
        what="Caddy to dial the newly published port",
    )
    assert wait_for(lambda: _through_caddy(own_stack, domain) == "two", timeout=20, what="v2 via Caddy")
    with own_stack.client(token) as c:
        assert c.delete(f"/api/v1/proxy/domains/{domain}").status_code == 200
    _remove(own_stack, token, app)


def _top(container: Any) -> dict[str, str]:
    top = container.top()
    pid, cmd = top["Titles"].index("PID"), top["Titles"].index("CMD")
    return {row[pid]: row[cmd] for row in top["Processes"]}


def test_a_terminal_on_a_remote_app_runs_in_its_container_there(
    own_stack: Stack, token: str, remote: RemoteServer
) -> None:
    app = _deploy(own_stack, token, message="three", port=18083)
    container = _container(remote, app)
    hostname, baseline = container.attrs["Config"]["Hostname"], _top(container)
    with open_term(own_stack, token, target=f"app:{app}/web", cols="90", rows="20") as (term, opened):
        assert opened["target"] == f"app:{app}/web"
        term.run("echo hi", rb"\r\nhi\r\n")
        term.run("echo IN-$(hostname)-$(cat /www/index.html)", f"IN-{hostname}-three".encode())
        term.type("sleep 4451 & sleep 4452\r")
        wait_for(
            lambda: {"sleep 4451", "sleep 4452"} <= set(_top(container).values()),
            timeout=30,
            what="the sleeps in the remote container",
        )
    # closing the terminal ends the shell and both sleeps there
    wait_for(lambda: _top(container) == baseline, timeout=30, what="the remote container's own processes")
    _remove(own_stack, token, app)


def test_a_container_that_dies_on_a_remote_server_changes_its_apps_status(
    own_stack: Stack, token: str, remote: RemoteServer
) -> None:
    app = _deploy(own_stack, token, message="four", port=18084)
    assert _status(own_stack, token, app) == ("running", "")
    _container(remote, app).kill()  # on the server itself, behind AppOS's back
    assert wait_for(
        lambda: (s := _status(own_stack, token, app))[0] != "running" and s,
        timeout=30,
        what="the app's status to follow the remote engine",
    ) == ("stopped", "")  # SIGKILL's 137 reads as stopped, not crashed (runtime.summarize)
    _container(remote, app).start()
    wait_for(lambda: _status(own_stack, token, app)[0] == "running", timeout=30, what="running again")
    _remove(own_stack, token, app)
