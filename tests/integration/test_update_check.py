"""The update check end to end (issue 19): a real registry v2 on loopback (Debian's docker-registry,
`tests/registry.py`) holding busybox-based `…/web` 1.0.0, 1.0.1, 1.1.0 and 2.0.0; an app whose
compose file names `…/web:1.0.0`, pulled by the engine from that registry; then checks through REST
(`POST /api/v1/updates/check` → 202, the `updates_checked` event, `GET /api/v1/updates` and
`/api/v1/apps/{app}/updates`), a re-pushed tag, a stopped registry, and roles. Nothing leaves
127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import ROOT, Stack, docker_client, free_port
from tests.registry import LocalRegistry, push_image, remove_images, start_registry
from tests.registry_proxy import RegistryProxy

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("update_check")]

REPOSITORY = "appos-test/web"
VERSIONS = ("1.0.0", "1.0.1", "1.1.0", "2.0.0")
COMPOSE = """\
services:
  web:
    image: {image}
    init: true
    command: ["httpd", "-f", "-p", "8080", "-h", "/"]
    ports:
      - "127.0.0.1:{port}:8080"
"""


@dataclass
class Seeded:
    registry: LocalRegistry
    digests: dict[str, str]
    app: str

    def image(self, tag: str) -> str:
        return self.registry.image(REPOSITORY, tag)


@contextmanager
def _subscribed(stack: Stack, token: str) -> Iterator[Callable[[str], dict[str, Any]]]:
    """The live events from now on; yields `ended(job)`, which reads them until the `updates_checked`
    of that job (a check's id) and returns that event."""
    headers = {"Authorization": f"Bearer {token}"}
    timeout = httpx.Timeout(10, read=120)
    with httpx.stream("GET", f"{stack.url}/api/v1/events", headers=headers, timeout=timeout) as events:
        assert events.status_code == 200
        lines = events.iter_lines()
        assert next(lines).startswith("retry:")
        assert next(lines).startswith(": events after ")  # subscribed: the check's end cannot be missed

        def ended(job: str) -> dict[str, Any]:
            for line in lines:
                if line.startswith("data: "):
                    event: dict[str, Any] = json.loads(line.removeprefix("data: "))
                    if event["type"] == "updates_checked" and event["payload"]["job"] == job:
                        return event
            raise AssertionError("the event stream ended before updates_checked")

        yield ended


def _check(stack: Stack, token: str) -> dict[str, Any]:
    """POST the check (202 with its job's id) and read the live events until that job's
    `updates_checked`; the event."""
    with _subscribed(stack, token) as ended:
        with stack.client(token) as c:
            r = c.post("/api/v1/updates/check", json={})
        assert r.status_code == 202, r.text
        reply = r.json()
        assert reply["queued"] is True and len(reply["id"]) == 32 and not reply.get("joined"), reply
        return ended(reply["id"])


def _found(stack: Stack, token: str, app: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """(the app's rows in GET /api/v1/updates, those of GET /api/v1/apps/{app}/updates), each as
    (service, image, current_tag, current_digest, candidate_tag, candidate_digest, kind, reason)."""
    keys = (
        "service", "image", "current_tag", "current_digest", "candidate_tag", "candidate_digest", "kind",
        "reason",
    )  # fmt: skip
    with stack.client(token) as c:
        everyone = c.get("/api/v1/updates")
        one = c.get(f"/api/v1/apps/{app}/updates")
    assert everyone.status_code == 200 and one.status_code == 200, (everyone.text, one.text)
    for row in one.json()["updates"]:
        assert row["app"] == app and row["checked_at"], row
    rows = [tuple(u.get(k, "") for k in keys) for u in everyone.json()["updates"] if u["app"] == app]
    return rows, [tuple(u.get(k, "") for k in keys) for u in one.json()["updates"]]


@pytest.fixture(scope="module")
def seeded(
    stack: Stack, admin_token: str, tmp_path_factory: pytest.TempPathFactory, busybox_image: str
) -> Iterator[Seeded]:
    client = docker_client()
    registry = start_registry(tmp_path_factory.mktemp("registry"))
    app = f"upd{uuid.uuid4().hex[:8]}"
    try:
        digests = {
            v: push_image(client, registry.image(REPOSITORY, v), content=f"web {v}\n") for v in VERSIONS
        }
        # the engine must pull 1.0.0 from the registry, as it would any image: drop the built one
        client.images.remove(registry.image(REPOSITORY, "1.0.0"), force=True)
        compose = COMPOSE.format(image=registry.image(REPOSITORY, "1.0.0"), port=free_port())
        _, deployment = stack.deploy(admin_token, {"name": app, "compose": compose})
        assert deployment["status"] == "succeeded", deployment
        ran = [(i["service"], i["image"], i["digest"]) for i in deployment["images"]]
        assert ran == [("web", registry.image(REPOSITORY, "1.0.0"), digests["1.0.0"])]
        yield Seeded(registry, digests, app)
    finally:
        with stack.client(admin_token) as c:
            r = c.delete(f"/api/v1/apps/{app}", params={"remove_volumes": "true"})
        if r.status_code == 202:
            stack.wait_deployment(admin_token, r.json()["deployment"]["id"])
        registry.stop()
        remove_images(client, registry)
        client.close()


def test_a_check_lists_patch_minor_and_major_with_the_registrys_digests(
    stack: Stack, admin_token: str, seeded: Seeded
) -> None:
    mark = seeded.registry.log_mark()
    event = _check(stack, admin_token)
    requests = seeded.registry.requests_since(mark)

    assert event["payload"]["apps"] >= 1 and event["payload"]["updates"] >= 3, event
    image, digests = seeded.image("1.0.0"), seeded.digests
    expected = [
        ("web", image, "1.0.0", digests["1.0.0"], "1.0.1", digests["1.0.1"], "patch", ""),
        ("web", image, "1.0.0", digests["1.0.0"], "1.1.0", digests["1.1.0"], "minor", ""),
        ("web", image, "1.0.0", digests["1.0.0"], "2.0.0", digests["2.0.0"], "major", ""),
    ]
    everyone, one = _found(stack, admin_token, seeded.app)
    assert everyone == expected and one == expected
    # a check only asks: HEAD of manifests and the tag list, never a pull
    base = f"/v2/{REPOSITORY}"
    assert sorted(requests) == sorted(
        [
            ("HEAD", f"{base}/manifests/1.0.0"),
            ("GET", f"{base}/tags/list?n=1000"),
            ("HEAD", f"{base}/manifests/1.0.1"),
            ("HEAD", f"{base}/manifests/1.1.0"),
            ("HEAD", f"{base}/manifests/2.0.0"),
        ]
    ), requests


def test_a_viewer_reads_the_list_but_may_not_start_a_check(
    stack: Stack, admin_token: str, seeded: Seeded
) -> None:
    username, password = f"vie{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    with stack.client(admin_token) as c:
        r = c.post("/api/v1/users", json={"username": username, "password": password, "role": "viewer"})
    assert r.status_code == 200, r.text
    viewer = stack.login(username, password)
    mark = seeded.registry.log_mark()
    with stack.client(viewer) as c:
        assert c.get("/api/v1/updates").status_code == 200
        assert c.get(f"/api/v1/apps/{seeded.app}/updates").status_code == 200
        refused = c.post("/api/v1/updates/check", json={})
        missing = c.get("/api/v1/apps/no-such-app-here/updates")
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] and refused.json()["message"]
    assert missing.status_code == 404 and "no-such-app-here" in missing.json()["message"]
    assert seeded.registry.requests_since(mark) == []  # the refused check asked nothing


def test_the_cli_checks_waits_and_lists(
    stack: Stack, admin_token: str, seeded: Seeded, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPOS_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path), APPOS_URL=stack.url, APPOS_TOKEN=admin_token, COLUMNS="250")

    def appos(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=180, check=False,
        )  # fmt: skip

    checked = appos("updates", "check", "--wait", "--json")
    assert checked.returncode == 0, checked.stderr
    assert "checked " in checked.stderr and " apps: " in checked.stderr
    mine = [u for u in json.loads(checked.stdout) if u["app"] == seeded.app]
    assert [(u["candidate_tag"], u["kind"]) for u in mine] == [
        ("1.0.1", "patch"),
        ("1.1.0", "minor"),
        ("2.0.0", "major"),
    ]

    listed = appos("updates", seeded.app)
    assert listed.returncode == 0, listed.stderr
    lines = [line.split() for line in listed.stdout.splitlines() if seeded.app in line]
    assert [(line[1], line[3], line[5], line[6]) for line in lines] == [
        ("web", "1.0.0", "1.0.1", "patch"),
        ("web", "1.0.0", "1.1.0", "minor"),
        ("web", "1.0.0", "2.0.0", "major"),
    ]
    refused = appos("updates", "no-such-app-here")
    assert refused.returncode == 1 and "no-such-app-here" in refused.stderr


def test_a_check_asked_for_while_one_runs_is_that_same_job(
    stack: Stack, admin_token: str, seeded: Seeded
) -> None:
    """One app pulls through a proxy in front of the registry, which holds the check's first manifest
    request: the check is running. Asking again then gives its id and queues nothing; once it ended,
    asking queues a new one."""
    app = f"updq{uuid.uuid4().hex[:8]}"
    with RegistryProxy(seeded.registry.host) as proxy:
        compose = COMPOSE.format(image=proxy.image(REPOSITORY, "1.0.0"), port=free_port())
        _, deployment = stack.deploy(admin_token, {"name": app, "compose": compose})
        try:
            assert deployment["status"] == "succeeded", deployment
            proxy.hold_manifests()
            with _subscribed(stack, admin_token) as ended, stack.client(admin_token) as c:
                first = c.post("/api/v1/updates/check", json={})
                assert first.status_code == 202 and not first.json().get("joined"), first.text
                assert proxy.arrived.wait(60), "the check never asked the registry"  # it runs now
                again = c.post("/api/v1/updates/check", json={})
                assert again.status_code == 202, again.text
                assert again.json() == {"queued": True, "id": first.json()["id"], "joined": True}
                proxy.release()
                event = ended(first.json()["id"])
                assert event["payload"]["origin"] == "request", event

                after = c.post("/api/v1/updates/check", json={})
                assert after.status_code == 202 and not after.json().get("joined"), after.text
                assert after.json()["id"] != first.json()["id"]
                ended(after.json()["id"])
            rows = [u for u in _found(stack, admin_token, app)[0] if u[6] != "unknown"]
            assert {row[4] for row in rows} == {"1.0.1", "1.1.0", "2.0.0"}, rows
        finally:
            with stack.client(admin_token) as c:
                r = c.delete(f"/api/v1/apps/{app}", params={"remove_volumes": "true"})
            if r.status_code == 202:
                stack.wait_deployment(admin_token, r.json()["deployment"]["id"])


def test_a_repushed_tag_is_a_digest_update_then_a_stopped_registry_is_unknown(
    stack: Stack, admin_token: str, seeded: Seeded, tmp_path: Path
) -> None:
    """Runs after the others (it changes the registry and stops it)."""
    client = docker_client()
    try:
        moved = push_image(client, seeded.image("1.0.0"), content="web 1.1.0\n")  # 1.1.0's content
    finally:
        client.close()
    assert moved != seeded.digests["1.0.0"]

    mark = seeded.registry.log_mark()
    _check(stack, admin_token)
    requests = seeded.registry.requests_since(mark)
    assert {method for method, _ in requests} <= {"HEAD", "GET"}
    assert all(
        "/manifests/" in path if method == "HEAD" else path.endswith("/tags/list?n=1000")
        for method, path in requests
    ), requests
    everyone, one = _found(stack, admin_token, seeded.app)
    running = seeded.digests["1.0.0"]
    image = seeded.image("1.0.0")
    assert everyone == one
    assert everyone[0] == ("web", image, "1.0.0", running, "1.0.0", moved, "digest", "")
    assert [row[4:7] for row in everyone[1:]] == [
        ("1.0.1", seeded.digests["1.0.1"], "patch"),
        ("1.1.0", seeded.digests["1.1.0"], "minor"),
        ("2.0.0", seeded.digests["2.0.0"], "major"),
    ]

    seeded.registry.stop()
    event = _check(stack, admin_token)  # the check still ends
    assert event["payload"]["unknown"] >= 1, event
    everyone, one = _found(stack, admin_token, seeded.app)
    assert everyone == one
    ((service, _, tag, digest, candidate, candidate_digest, kind, reason),) = everyone
    assert (service, tag, digest, candidate, candidate_digest, kind) == (
        "web",
        "1.0.0",
        running,
        "",
        "",
        "unknown",
    )
    assert f"cannot reach the registry {seeded.registry.host}" in reason
