"""A deployments queue per server (issue 21), on a real stack and two real remote servers
(tests/remote.py: network namespaces with their own dockerd and sshd): 20 deployments at once spread
over `local`, r1 and r2 all succeed while their status is polled; deployments held on one server
(every thread of its queue busy) do not delay the others'; r1's traffic cut with iptables mid-deploy
fails its deployments well within the deploy timeout, naming the server (and a new version is not
rolled back for it), while r2's and local's go on; a deployment to r1 while it is down fails at once
with the reason; once the traffic is back, r1 comes back by itself and a deploy there succeeds.
Nothing leaves the machine."""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.harness import Stack, free_port, running_stack, wait_for
from tests.remote import RemoteServer, remote_server

pytestmark = [pytest.mark.xdist_group("servers"), pytest.mark.usefixtures("busybox_image")]

logger = logging.getLogger(__name__)

DEPLOY_TIMEOUT = 60  # the stack's APPOS_DEPLOY_TIMEOUT_SECONDS

WEB = """services:
  web:
    image: appos-test/busybox:latest
    pull_policy: never
    init: true
    command:
      - sh
      - -c
      - mkdir -p /www && echo $${MESSAGE} > /www/index.html && httpd -f -p 8080 -h /www
    environment:
      MESSAGE: ${MESSAGE}
    ports:
      - "${PORT}:8080"
"""

# `up --wait` waits for its healthcheck, which passes only once READY=1: with READY=0 a deployment
# runs until its timeout (or until its server goes away).
HELD = """services:
  web:
    image: appos-test/busybox:latest
    pull_policy: never
    init: true
    command: ["sh", "-c", "mkdir -p /tmp; [ \\"$${READY}\\" = 1 ] && touch /tmp/ready; exec sleep 3600"]
    environment:
      READY: ${READY}
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      start_period: 600s
"""


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    env = {"APPOS_SERVER_PROBE_SECONDS": "1", "APPOS_DEPLOY_TIMEOUT_SECONDS": str(DEPLOY_TIMEOUT)}
    with running_stack(tmp_path_factory.mktemp("server-queues"), extra_env=env) as stack:
        yield stack


@pytest.fixture(scope="module")
def token(own_stack: Stack) -> str:
    return own_stack.login()


@pytest.fixture(scope="module")
def remotes(
    tmp_path_factory: pytest.TempPathFactory, own_stack: Stack, token: str
) -> Iterator[dict[str, RemoteServer]]:
    """Two remote servers, added to the stack as r1 and r2."""
    base = tmp_path_factory.mktemp("remotes")
    with remote_server(base, name="r1") as r1, remote_server(base, name="r2") as r2:
        for server in (r1, r2):
            server.add_to(own_stack, token)
        yield {"r1": r1, "r2": r2}


def _page(address: str, port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/", timeout=5) as page:
            return str(page.read().decode().strip())
    except OSError:
        return None


def _post_app(stack: Stack, token: str, body: dict[str, Any]) -> str:
    """POST /api/v1/apps; the deployment's id."""
    with stack.client(token) as c:
        r = c.post("/api/v1/apps", json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["deployment"]["id"])


def _deployment(stack: Stack, token: str, deployment_id: str) -> dict[str, Any]:
    with stack.client(token) as c:
        found: dict[str, Any] = c.get(f"/api/v1/deployments/{deployment_id}").json()
    return found


def _log(stack: Stack, token: str, deployment_id: str) -> list[str]:
    with stack.client(token) as c:
        return [str(line) for line in c.get(f"/api/v1/deployments/{deployment_id}/logs").json()["lines"]]


def _edit(stack: Stack, token: str, app: str, env: str) -> str:
    """A new version of the app's HELD compose with `env`, deployed at once; the deployment's id."""
    with stack.client(token) as c:
        current = c.get(f"/api/v1/apps/{app}/compose")
        r = c.put(
            f"/api/v1/apps/{app}/compose",
            json={"compose": HELD, "env": env},
            params={"deploy": "true"},
            headers={"If-Match": current.headers["etag"]},
        )
    assert r.status_code == 200, r.text
    return str(r.json()["deployment"]["id"])


def _server(stack: Stack, token: str, name: str) -> dict[str, Any]:
    with stack.client(token) as c:
        found: dict[str, Any] = c.get(f"/api/v1/servers/{name}").json()
    return found


def _remove(stack: Stack, token: str, names: list[str]) -> None:
    with stack.client(token) as c:
        ids = [c.delete(f"/api/v1/apps/{name}").json()["deployment"]["id"] for name in names]
    for deployment_id in ids:
        assert stack.wait_deployment(token, deployment_id)["status"] == "succeeded"


def test_each_server_has_its_queue_and_the_worker_answers_for_it(
    own_stack: Stack, token: str, remotes: dict[str, RemoteServer]
) -> None:
    # the nodes consuming r1's and r2's queues answer the worker's ping: the stack is healthy
    wait_for(lambda: own_stack.health() == 200, timeout=60, what="the stack healthy with both servers")

    def queue_metrics() -> bool:
        with own_stack.client(token) as c:
            text = c.get("/metrics").text
        return all(f'appos_queue_depth{{queue="appos.deployments.{s}"}}' in text for s in remotes)

    wait_for(queue_metrics, timeout=30, what="the servers' queues in the metrics")


def test_twenty_deployments_at_once_over_three_servers_all_succeed(
    own_stack: Stack, token: str, remotes: dict[str, RemoteServer]
) -> None:
    servers = ["local", "r1", "r2"]
    apps = []
    for i in range(20):
        server = servers[i % 3]
        port = free_port() if server == "local" else 18100 + i
        apps.append((f"q{i}{uuid.uuid4().hex[:6]}", server, port))
    seen: dict[str, set[str]] = {}
    stop = threading.Event()

    def poll() -> None:  # what clients see meanwhile: the list and each app
        with own_stack.client(token) as c:
            while not stop.is_set():
                for app in c.get("/api/v1/apps").json()["apps"]:
                    seen.setdefault(app["name"], set()).add(app["status"])

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            bodies = [
                {"name": name, "server": server, "compose": WEB, "env": f"MESSAGE={name}\nPORT={port}\n"}
                for name, server, port in apps
            ]
            ids = list(pool.map(lambda body: _post_app(own_stack, token, body), bodies))
            ended = list(pool.map(lambda d: own_stack.wait_deployment(token, d, timeout=240), ids))
    finally:
        stop.set()
        poller.join(30)
    assert [d["status"] for d in ended] == ["succeeded"] * 20, [(d["app"], d["reason"]) for d in ended]
    for name, server, port in apps:
        address = "127.0.0.1" if server == "local" else remotes[server].address
        page = wait_for(lambda a=address, p=port: _page(a, p), timeout=20, what=f"{name}'s page")
        assert page == name
        assert not seen.get(name, set()) & {"failed", "unhealthy"}, (name, seen.get(name))
    on = {s: [n for n, server, _ in apps if server == s] for s in remotes}
    for server, remote in remotes.items():
        assert set(on[server]) <= {c.split("-")[1] for c in remote.containers()}, remote.containers()
    _remove(own_stack, token, [name for name, _, _ in apps])


def test_a_cut_server_fails_its_deployments_in_time_and_the_others_go_on(
    own_stack: Stack, token: str, remotes: dict[str, RemoteServer]
) -> None:
    r1 = remotes["r1"]
    held = [f"held{i}{uuid.uuid4().hex[:6]}" for i in range(2)]
    # held[0] runs (v1 is its last good version), then a v2 that never gets healthy; held[1] is new
    first = _post_app(
        own_stack, token, {"name": held[0], "server": "r1", "compose": HELD, "env": "READY=1\n"}
    )
    assert own_stack.wait_deployment(token, first)["status"] == "succeeded"
    held_ids = [
        _edit(own_stack, token, held[0], "READY=0\n"),
        _post_app(own_stack, token, {"name": held[1], "server": "r1", "compose": HELD, "env": "READY=0\n"}),
    ]  # as many as r1's queue has threads: both are taken

    def both_running() -> bool:
        names = r1.containers()
        return all(any(name in c for c in names) for name in held) and all(
            _deployment(own_stack, token, d)["status"] == "running" for d in held_ids
        )

    wait_for(both_running, timeout=90, what="both held deployments running on r1")

    def deploy_elsewhere(tag: str) -> None:
        """A deploy on r2 and one on local, both done, while r1's deployments still run."""
        apps = [
            (f"{tag}r2{uuid.uuid4().hex[:6]}", "r2", 18200),
            (f"{tag}lo{uuid.uuid4().hex[:6]}", "local", free_port()),
        ]
        ids = [
            _post_app(
                own_stack, token, {"name": n, "server": s, "compose": WEB, "env": f"MESSAGE={n}\nPORT={p}\n"}
            )
            for n, s, p in apps
        ]
        for deployment_id in ids:
            assert own_stack.wait_deployment(token, deployment_id)["status"] == "succeeded"
        _remove(own_stack, token, [n for n, _, _ in apps])

    deploy_elsewhere("a")  # r1's threads are busy: the others' go on
    assert [_deployment(own_stack, token, d)["status"] for d in held_ids] == ["running", "running"]

    r1.cut()
    cut_at = time.monotonic()
    try:
        deploy_elsewhere("b")  # and while r1 is cut

        ended = [own_stack.wait_deployment(token, d, timeout=DEPLOY_TIMEOUT + 60) for d in held_ids]
        took = time.monotonic() - cut_at
        logger.warning("r1 cut: its deployments failed %.1f s after the cut: %s", took, ended[0]["reason"])
        for deployment in ended:
            assert deployment["status"] == "failed", deployment
            assert deployment["reason"].startswith("server r1 "), deployment["reason"]
        assert took < DEPLOY_TIMEOUT, (took, [d["reason"] for d in ended])
        # v2 is not to blame: no automatic rollback to v1 while r1 does not answer
        assert ended[0]["reason"].endswith("; no automatic rollback while server r1 does not answer"), ended[
            0
        ]
        with own_stack.client(token) as c:
            assert c.get(f"/api/v1/apps/{held[0]}").json()["current_version"] == 2

        # r1 down: a deployment there fails at once, with why (the API takes it: a restart asks no engine)
        wait_for(lambda: _server(own_stack, token, "r1")["status"] == "down", timeout=60, what="r1 down")
        with own_stack.client(token) as c:
            r = c.post(f"/api/v1/apps/{held[1]}/restart", json={})
        assert r.status_code == 202, r.text
        quick = own_stack.wait_deployment(token, r.json()["deployment"]["id"])
        assert quick["status"] == "failed" and quick["reason"].startswith("server r1 is down: "), quick
    finally:
        r1.restore()

    # r1 comes back by itself; a deploy there succeeds (the held app, ready this time)
    wait_for(lambda: _server(own_stack, token, "r1")["status"] == "up", timeout=90, what="r1 up again")
    done = own_stack.wait_deployment(token, _edit(own_stack, token, held[0], "READY=1\n"))
    assert done["status"] == "succeeded", (done["reason"], _log(own_stack, token, done["id"]))
    _remove(own_stack, token, held)
    assert not [c for c in r1.containers() if any(n in c for n in held)], r1.containers()
