"""Updating an app end to end (issue 19): `POST /api/v1/apps/{app}/update` against a real registry v2
on loopback (Debian's docker-registry, `tests/registry.py`), the engine and Compose. The images are
busybox-static with a start script and a healthcheck baked in: a good version serves
`/version` and records its first start in its volume; a bad one writes over the volume, then fails
its healthcheck. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.notify.events import KINDS as NOTIFICATION_KINDS
from tests.harness import (
    BUSYBOX_IMAGE,
    Stack,
    docker_client,
    free_port,
    start_stack,
    wait_for,
)
from tests.registry import LocalRegistry, push_web, remove_images, start_registry
from tests.registry_proxy import RegistryProxy
from tests.webhooks import Receiver, verify_signature

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("update_app")]

REPOSITORY = "appos-test/upweb"
SECRET = "update-webhook-secret-0123456789"
COMPOSE = """\
services:
  web:
    image: {image}
    init: true
    ports:
      - "127.0.0.1:{port}:8080"
    volumes:
      - data:/data
volumes:
  data:
"""


@dataclass
class Registry:
    registry: LocalRegistry
    digests: dict[str, str] = field(default_factory=dict)

    def image(self, tag: str) -> str:
        return self.registry.image(REPOSITORY, tag)

    def push(self, tag: str, *, bad: bool = False, crash: bool = False, content: str = "") -> str:
        self.digests[tag] = push_web(
            docker_client(), self.image(tag), content=content or f"web {tag}", bad=bad, crash=crash
        )
        return self.digests[tag]


@pytest.fixture(scope="module")
def ustack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    """A stack of this module's own: the health gate's settle period (default 10 s) is shorter here,
    still well past the 2.5 s the crashing version runs."""
    running = start_stack(
        tmp_path_factory.mktemp("ustack"),
        extra_env={"APPOS_UPDATE_SETTLE_SECONDS": "6", "APPOS_STREAMS_PER_USER": "100"},
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def token(ustack: Stack) -> str:
    return ustack.login()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, busybox_image: str) -> Iterator[Registry]:
    client = docker_client()
    registry = Registry(start_registry(tmp_path_factory.mktemp("registry")))
    try:
        for tag in ("1.0.0", "1.1.0", "2.0.0"):
            registry.push(tag)
        registry.push("1.5.0-broken", bad=True)  # another shape: never a candidate of 1.0.0
        registry.push("1.6.0-crash", crash=True)
        yield registry
    finally:
        registry.registry.stop()
        remove_images(client, registry.registry)
        client.close()


def _deploy(stack: Stack, token: str, image: str, *, volumes: bool = False) -> tuple[str, int]:
    app, port = f"up{uuid.uuid4().hex[:8]}", free_port()
    _, deployment = stack.deploy(token, {"name": app, "compose": COMPOSE.format(image=image, port=port)})
    assert deployment["status"] == "succeeded", deployment
    if volumes:
        with stack.client(token) as c:
            r = c.patch(f"/api/v1/apps/{app}/options", json={"backup_volumes": True})
        assert r.status_code == 200 and r.json()["backup_volumes"], r.text
    return app, port


def _check(stack: Stack, token: str) -> None:
    """A check now, waited for through the app's rows' `checked_at` moving on."""
    with stack.client(token) as c:
        before = {u["checked_at"] for u in c.get("/api/v1/updates").json()["updates"]}
        assert c.post("/api/v1/updates/check", json={}).status_code == 202

        def done() -> bool:
            rows = c.get("/api/v1/updates").json()["updates"]
            return bool(rows) and {u["checked_at"] for u in rows} != before

        wait_for(done, timeout=60, what="the update check")


def _update(stack: Stack, token: str, app: str, body: dict[str, Any]) -> dict[str, Any]:
    with stack.client(token) as c:
        r = c.post(f"/api/v1/apps/{app}/update", json=body)
    assert r.status_code == 202, r.text
    reply = r.json()
    assert reply["app"]["name"] == app and reply["deployment"]["action"] == "update", reply
    return stack.wait_deployment(token, reply["deployment"]["id"], timeout=180)


def _serves(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/version", timeout=2).text.strip()


def _versions(stack: Stack, token: str, app: str) -> list[dict[str, Any]]:
    with stack.client(token) as c:
        r = c.get(f"/api/v1/apps/{app}/versions")
    assert r.status_code == 200, r.text
    return list(r.json()["versions"])


def _logs(stack: Stack, token: str, deployment_id: str) -> list[str]:
    with stack.client(token) as c:
        return [line["line"] for line in c.get(f"/api/v1/deployments/{deployment_id}/logs").json()["lines"]]


def _events(stack: Stack, token: str, app: str, until: str) -> list[dict[str, Any]]:
    """The app's events from the start of the log up to the first of type `until`."""
    headers = {"Authorization": f"Bearer {token}"}
    found: list[dict[str, Any]] = []
    with httpx.stream(
        "GET", f"{stack.url}/api/v1/events", params={"after": 0}, headers=headers,
        timeout=httpx.Timeout(10, read=60),
    ) as stream:  # fmt: skip
        for line in stream.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line.removeprefix("data: "))
            if event["subject"] == app or (event.get("payload") or {}).get("app") == app:
                found.append(event)
                if event["type"] == until:
                    return found
    raise AssertionError(f"the event stream ended before {until}")


def _volume_checksum(app: str) -> str:
    """SHA-256 over every file of the app's `data` volume (names and contents)."""
    client = docker_client()
    try:
        script = 'cd /v && find . -type f | sort | while read f; do echo "$f"; cat "$f"; done'
        out: bytes = client.containers.run(
            BUSYBOX_IMAGE, ["sh", "-c", script],
            volumes={f"appos-{app}_data": {"bind": "/v", "mode": "ro"}}, remove=True, network_disabled=True,
        )  # fmt: skip
    finally:
        client.close()
    return hashlib.sha256(out).hexdigest() + " " + out.decode(errors="replace").replace("\n", "|")


def _web_container(app: str) -> Any:
    client = docker_client()
    try:
        found = client.containers.list(filters={"label": [f"com.docker.compose.project=appos-{app}"]})
    finally:
        client.close()
    assert len(found) == 1, found
    return found[0]


class Poller:
    """GET /version every 50 ms on a thread: (monotonic time, answer or "error")."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=0.5) as client:
            while not self._stop.is_set():
                try:
                    answer = client.get(f"http://127.0.0.1:{self.port}/version").text.strip()
                except httpx.HTTPError:
                    answer = "error"
                self.seen.append((time.monotonic(), answer))
                self._stop.wait(0.05)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def test_update_to_the_newest_minor_then_a_major_only_when_confirmed(
    ustack: Stack, token: str, seeded: Registry
) -> None:
    app, port = _deploy(ustack, token, seeded.image("1.0.0"))
    try:
        _check(ustack, token)
        with Poller(port) as poller:
            wait_for(lambda: poller.seen, timeout=5, what="the first answer")
            deployment = _update(ustack, token, app, {})
            wait_for(lambda: poller.seen[-1][1] == "web 1.1.0", timeout=10, what="the new version")
        assert deployment["status"] == "succeeded", deployment
        assert [(i["service"], i["digest"]) for i in deployment["images"]] == [
            ("web", seeded.digests["1.1.0"])
        ]
        newest = _versions(ustack, token, app)[0]
        assert (newest["number"], newest["message"], newest["source"]) == (2, "web 1.0.0 → 1.1.0", "update")
        assert deployment["version"] == 2
        assert _serves(port) == "web 1.1.0"
        lines = _logs(ustack, token, deployment["id"])
        for step in ("snapshot", "pull", "redeploy", "health"):
            assert f"update: {step} succeeded" in " | ".join(lines), lines

        # the poller saw the old version until the swap, then only the new one
        answers = [answer for _t, answer in poller.seen]
        assert answers[0] == "web 1.0.0" and answers[-1] == "web 1.1.0", answers
        first_new = answers.index("web 1.1.0")
        assert "web 1.0.0" not in answers[first_new:], answers
        last_old = max(i for i, a in enumerate(answers) if a == "web 1.0.0")
        gap = poller.seen[first_new][0] - poller.seen[last_old][0]
        silent = first_new - last_old - 1
        said = f"update of a healthchecked app: a 50 ms poller's gap {gap:.2f} s ({silent} polls unanswered)"
        print("\n" + said)  # noqa: T201 (the issue asks to measure the gap: shown with -s)

        # the update checked the app again before it ended: the list no longer offers 1.1.0 (its
        # badge goes) without waiting for the next check; what is left starts from 1.1.0
        keys = ("service", "current_tag", "current_digest", "candidate_tag", "kind")
        with ustack.client(token) as c:
            mine = c.get(f"/api/v1/apps/{app}/updates").json()["updates"]
            everyone = [u for u in c.get("/api/v1/updates").json()["updates"] if u["app"] == app]
        assert [tuple(u.get(k, "") for k in keys) for u in mine] == [
            ("web", "1.1.0", seeded.digests["1.1.0"], "2.0.0", "major")
        ], mine
        assert everyone == mine
        with ustack.client(token) as c:
            refused = c.post(f"/api/v1/apps/{app}/update", json={})
        assert refused.status_code == 400, refused.text
        words = refused.json()["message"]
        assert "web 1.1.0 → 2.0.0 is a major update" in words and "allow_major" in words, words
        assert len(_versions(ustack, token, app)) == 2  # nothing stored

        deployment = _update(ustack, token, app, {"allow_major": True})
        assert deployment["status"] == "succeeded", deployment
        assert _versions(ustack, token, app)[0]["message"] == "web 1.1.0 → 2.0.0"
        assert _serves(port) == "web 2.0.0"
    finally:
        ustack.remove_app(token, app)


def test_a_version_that_fails_its_healthcheck_is_rolled_back_with_its_volume_data(
    ustack: Stack, token: str, seeded: Registry
) -> None:
    receiver = Receiver()
    app, port = _deploy(ustack, token, seeded.image("1.0.0"), volumes=True)
    hook = ""
    try:
        hook = _hook(ustack, token, receiver)  # every kind: deployment_failed and auto_rollback too
        before = _volume_checksum(app)
        assert "seeded by web 1.0.0" in before
        container_before = _web_container(app).id

        deployment = _update(ustack, token, app, {"services": {"web": "1.5.0-broken"}})

        assert deployment["status"] == "failed", deployment
        assert "rolled back to v1" in deployment["reason"] and "unhealthy" in deployment["reason"], deployment
        assert _volume_checksum(app) == before
        assert _serves(port) == "web 1.0.0"
        web = _web_container(app)
        assert web.id != container_before  # the bad version ran, then the old one came back
        pinned = f"{seeded.registry.host}/{REPOSITORY}@{seeded.digests['1.0.0']}"
        assert web.attrs["Config"]["Image"] == pinned  # the digest 1.0.0 had, whatever the tag says now
        assert web.attrs["State"]["Health"]["Status"] == "healthy"  # `up --wait` waited for it
        with ustack.client(token) as c:
            state = c.get(f"/api/v1/apps/{app}").json()
        assert state["status"] == "running", state
        rollback = state["last_deployment"]
        assert rollback["source"] == "auto_rollback" and rollback["status"] == "succeeded", rollback
        assert [(i["service"], i["digest"]) for i in rollback["images"]] == [("web", seeded.digests["1.0.0"])]
        versions = _versions(ustack, token, app)
        assert [(v["number"], v["source"]) for v in versions[:2]] == [(3, "auto_rollback"), (2, "update")]
        assert state["current_version"] == 3

        events = _events(ustack, token, app, "update_rolled_back")
        steps = [(e["payload"]["step"], e["payload"]["status"]) for e in events if e["type"] == "update_step"]
        assert steps == [
            ("snapshot", "started"), ("snapshot", "succeeded"), ("pull", "started"), ("pull", "succeeded"),
            ("redeploy", "started"), ("redeploy", "failed"),
            ("rollback", "started"), ("rollback", "succeeded"),
        ], steps  # fmt: skip
        snapshot = [e for e in events if e["type"] == "update_step" and e["payload"]["step"] == "snapshot"]
        assert "volumes copied: data" in snapshot[-1]["payload"]["message"], snapshot
        rolled = events[-1]
        assert rolled["payload"]["deployment"] == deployment["id"]
        assert "rolled back to v1" in rolled["payload"]["message"]

        # one event, one message: not also the failed update deployment nor the automatic rollback
        assert _notified(ustack, token, receiver, hook, app) == ["update_rolled_back"]
        delivered = receiver.received(f"/{hook}", app=app)
        verify_signature(delivered[0], SECRET)
        assert delivered[0].json()["app"] == app
        assert not list((ustack.data / "updates").glob(f"{deployment['id']}*"))  # the snapshot went
    finally:
        ustack.remove_app(token, app)
        if hook:
            with ustack.client(token) as c:
                c.delete(f"/api/v1/notifications/targets/{hook}")
        receiver.close()


def test_a_service_without_healthcheck_that_exits_within_the_settle_period_is_rolled_back(
    ustack: Stack, token: str, seeded: Registry
) -> None:
    app, port = _deploy(ustack, token, seeded.image("1.0.0"))
    try:
        deployment = _update(ustack, token, app, {"services": {"web": "1.6.0-crash"}})

        assert deployment["status"] == "failed", deployment
        reason = deployment["reason"]
        assert "service web exited with code 3" in reason and "rolled back to v1" in reason, reason
        lines = " | ".join(_logs(ustack, token, deployment["id"]))
        assert "update: redeploy succeeded" in lines and "update: health failed" in lines, lines
        assert "update: rollback succeeded" in lines, lines
        assert _serves(port) == "web 1.0.0"
        with ustack.client(token) as c:
            state = c.get(f"/api/v1/apps/{app}").json()
        assert state["status"] == "running" and state["current_version"] == 3, state
    finally:
        ustack.remove_app(token, app)


def test_without_a_volume_snapshot_a_failed_rollback_says_what_state_the_app_is_in(
    ustack: Stack, token: str, seeded: Registry
) -> None:
    """The bad version migrates the volume; the old one refuses to start on that data. Without the
    snapshot (snapshot_volumes: false) nothing gives the old data back: `update_failed`."""
    app, _port = _deploy(ustack, token, seeded.image("1.0.0"), volumes=True)
    try:
        deployment = _update(
            ustack, token, app, {"services": {"web": "1.5.0-broken"}, "snapshot_volumes": False}
        )

        assert deployment["status"] == "failed", deployment
        reason = deployment["reason"]
        assert "so did its rollback to v1" in reason and "exited with code 4" in reason, reason
        assert "the app is failed" in reason, reason
        with ustack.client(token) as c:
            state = c.get(f"/api/v1/apps/{app}").json()
        assert state["status"] == "failed" and state["current_version"] == 3, state
        events = _events(ustack, token, app, "update_failed")
        snapshot = [
            e["payload"] for e in events if e["type"] == "update_step" and e["payload"]["step"] == "snapshot"
        ]
        assert "volumes not copied (not asked for)" in snapshot[-1]["message"], snapshot
        assert "so did its rollback to v1" in events[-1]["payload"]["message"], events[-1]
        assert not (ustack.data / "updates" / deployment["id"]).exists()
    finally:
        ustack.remove_app(token, app)


def test_a_registry_that_stopped_fails_the_update_and_the_old_version_keeps_serving(
    ustack: Stack, token: str, tmp_path: Path, busybox_image: str
) -> None:
    own = Registry(start_registry(tmp_path / "registry"))
    client = docker_client()
    app = ""
    try:
        own.push("1.0.0")
        own.push("1.1.0")
        client.images.remove(own.image("1.1.0"), force=True)  # the engine would have to pull it
        app, port = _deploy(ustack, token, own.image("1.0.0"))
        container = _web_container(app).id
        own.registry.stop()

        deployment = _update(ustack, token, app, {"services": {"web": "1.1.0"}})

        assert deployment["status"] == "failed", deployment
        reason = deployment["reason"]
        assert own.image("1.1.0") in reason and "nothing was stopped" in reason, reason
        assert _serves(port) == "web 1.0.0"
        assert _web_container(app).id == container  # never stopped
        with ustack.client(token) as c:
            state = c.get(f"/api/v1/apps/{app}").json()
            compose = c.get(f"/api/v1/apps/{app}/compose").json()
        versions = _versions(ustack, token, app)
        assert [(v["number"], v["source"]) for v in versions] == [
            (3, "auto_rollback"),
            (2, "update"),
            (1, "create"),
        ]
        assert state["current_version"] == 3 and state["status"] == "running", state
        assert own.image("1.0.0") in compose["compose"] and not compose.get("drift"), compose
        back = state["last_deployment"]
        assert back["status"] == "succeeded" and back["images"][0]["digest"] == own.digests["1.0.0"], back
    finally:
        if app:
            ustack.remove_app(token, app)
        own.registry.stop()
        remove_images(client, own.registry)
        client.close()


def _hook(stack: Stack, token: str, receiver: Receiver) -> str:
    """A webhook target for every kind of notification; its name (also its path on `receiver`)."""
    hook = f"hook{uuid.uuid4().hex[:8]}"
    with stack.client(token) as c:
        r = c.post(
            "/api/v1/notifications/targets",
            json={"name": hook, "webhook": {"url": receiver.url(f"/{hook}"), "secret": SECRET},
                  "events": list(NOTIFICATION_KINDS)},
        )  # fmt: skip
    assert r.status_code == 200, r.text
    return hook


def _notified(stack: Stack, token: str, receiver: Receiver, hook: str, app: str) -> list[str]:
    """The kinds `hook` received about `app`, once a later notification (a failed deploy of another
    app, after everything `app` did) has arrived: the dispatcher sends events in order."""
    marker = f"mark{uuid.uuid4().hex[:8]}"
    _, failed = stack.deploy(token, {"name": marker, "template": "busybox-crash"})
    assert failed["status"] == "failed", failed
    try:
        wait_for(lambda: receiver.received(f"/{hook}", app=marker), timeout=60, what="the later webhook")
    finally:
        stack.remove_app(token, marker)
    return [d.json()["event"] for d in receiver.received(f"/{hook}", app=app)]


def test_a_registry_that_goes_away_during_the_pull_fails_the_update_and_a_later_one_succeeds(
    ustack: Stack, token: str, tmp_path: Path, busybox_image: str
) -> None:
    """The app pulls through a proxy in front of the registry; the moment the update's pull asks for
    its first blob, the registry goes away (that request loses its connection, the port refuses)."""
    own = Registry(start_registry(tmp_path / "registry"))  # pushed to directly, pulled via the proxy
    proxy = RegistryProxy(own.registry.host)
    receiver = Receiver()
    client = docker_client()
    app, hook = "", ""
    try:
        own.push("1.0.0")
        new = f"web 1.1.0 {uuid.uuid4().hex[:8]}"  # content no other image has: the engine must pull it
        own.push("1.1.0", content=new)
        client.images.remove(own.image("1.1.0"), force=True)
        app, port = _deploy(ustack, token, proxy.image(REPOSITORY, "1.0.0"))
        hook = _hook(ustack, token, receiver)
        before = _web_container(app)
        assert before.attrs["Image"] == client.images.get(own.image("1.0.0")).id

        proxy.hold_blobs()
        with ustack.client(token) as c:
            r = c.post(f"/api/v1/apps/{app}/update", json={"services": {"web": "1.1.0"}})
        assert r.status_code == 202, r.text
        assert proxy.arrived.wait(120), "the update's pull never asked for a blob"
        proxy.go_away()
        deployment = ustack.wait_deployment(token, r.json()["deployment"]["id"], timeout=180)

        assert deployment["status"] == "failed", deployment  # ended, not left running
        reason = deployment["reason"]
        assert f"pulling from registry {proxy.host} failed" in reason, reason
        assert "nothing was stopped" in reason, reason
        assert _serves(port) == "web 1.0.0"
        after = _web_container(app)
        assert (after.id, after.attrs["Image"]) == (before.id, before.attrs["Image"])  # untouched
        with ustack.client(token) as c:
            state = c.get(f"/api/v1/apps/{app}").json()
        assert state["status"] == "running" and state["current_version"] == 3, state
        assert state["last_deployment"]["images"][0]["digest"] == own.digests["1.0.0"], state
        failed = _events(ustack, token, app, "update_failed")[-1]["payload"]
        assert failed["deployment"] == deployment["id"] and failed["step"] == "pull", failed
        assert proxy.host in failed["message"] and "nothing was stopped" in failed["message"], failed
        assert _notified(ustack, token, receiver, hook, app) == ["update_failed"]  # one message

        proxy.come_back()
        again = _update(ustack, token, app, {"services": {"web": "1.1.0"}})
        assert again["status"] == "succeeded", again
        assert again["images"][0]["digest"] == own.digests["1.1.0"]
        assert _serves(port) == new
    finally:
        if app:
            ustack.remove_app(token, app)
        if hook:
            with ustack.client(token) as c:
                c.delete(f"/api/v1/notifications/targets/{hook}")
        receiver.close()
        proxy.close()
        own.registry.stop()
        remove_images(client, own.registry)
        for image in client.images.list():  # what the engine pulled by the proxy's name
            for tag in image.tags:
                if tag.startswith(f"{proxy.host}/"):
                    client.images.remove(tag)
        client.close()


def test_a_latest_app_updates_by_digest_and_a_rollback_runs_the_old_digest(
    ustack: Stack, token: str, seeded: Registry
) -> None:
    old = seeded.push("latest", content="web latest one")
    app, port = _deploy(ustack, token, seeded.image("latest"))
    try:
        new = seeded.push("latest", content="web latest two")
        assert new != old
        _check(ustack, token)
        with ustack.client(token) as c:
            rows = c.get(f"/api/v1/apps/{app}/updates").json()["updates"]
        assert [(r["kind"], r["candidate_digest"]) for r in rows] == [("digest", new)], rows

        deployment = _update(ustack, token, app, {})
        assert deployment["status"] == "succeeded", deployment
        assert deployment["images"][0]["digest"] == new
        assert _serves(port) == "web latest two"
        with ustack.client(token) as c:  # checked again by the update: nothing newer than what it runs
            assert c.get(f"/api/v1/apps/{app}/updates").json().get("updates", []) == []
        assert _versions(ustack, token, app)[0]["message"].startswith("web latest → latest (sha256:")

        with ustack.client(token) as c:
            r = c.post(f"/api/v1/apps/{app}/rollback", json={"version": 1})
        assert r.status_code == 202, r.text
        rolled = ustack.wait_deployment(token, r.json()["deployment"]["id"])
        assert rolled["status"] == "succeeded", rolled
        assert rolled["images"][0]["digest"] == old
        assert _serves(port) == "web latest one"
    finally:
        ustack.remove_app(token, app)


def test_refusals_leave_the_app_unchanged(ustack: Stack, token: str, seeded: Registry) -> None:
    app, _port = _deploy(ustack, token, seeded.image("1.0.0"))
    try:
        username, password = f"vie{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
        with ustack.client(token) as c:
            r = c.post("/api/v1/users", json={"username": username, "password": password, "role": "viewer"})
        assert r.status_code == 200, r.text
        viewer = ustack.login(username, password)
        with ustack.client(viewer) as c:
            forbidden = c.post(f"/api/v1/apps/{app}/update", json={"services": {"web": "1.1.0"}})
        with ustack.client(token) as c:
            missing = c.post("/api/v1/apps/no-such-app-here/update", json={"services": {"web": "1.1.0"}})
            bad_tag = c.post(f"/api/v1/apps/{app}/update", json={"services": {"web": "1.1.0;rm -rf /"}})
            unknown = c.post(f"/api/v1/apps/{app}/update", json={"services": {"db": "1.1.0"}})
            nothing = c.post(f"/api/v1/apps/{app}/update", json={})  # no check names this app yet
            major = c.post(f"/api/v1/apps/{app}/update", json={"services": {"web": "2.0.0"}})
        for reply, status, words in (
            (forbidden, 403, ""),
            (missing, 404, "no-such-app-here"),
            (bad_tag, 400, "not a valid image tag"),
            (unknown, 400, "no service 'db'"),
            (nothing, 409, "check again"),
            (major, 400, "allow_major"),
        ):
            assert reply.status_code == status, (status, reply.text)
            body = reply.json()
            assert body["code"] and body["message"] and body["request_id"], body
            assert words in body["message"], body
        assert len(_versions(ustack, token, app)) == 1
        with ustack.client(token) as c:
            deployments = c.get("/api/v1/deployments", params={"app": app}).json()["deployments"]
        assert [d["action"] for d in deployments] == ["deploy"]
    finally:
        ustack.remove_app(token, app)
