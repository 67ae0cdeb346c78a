"""Notifications with real parts: a webhook receiver (http.server) and an SMTP server (aiosmtpd) on
loopback, a stack whose deployer dispatches from the event log and whose Celery worker delivers,
and real failed deployments of the FROM-scratch busybox image."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.harness import ROOT, Stack, free_port, start_stack, wait_for
from tests.webhooks import Received, Receiver, verify_signature

pytestmark = [pytest.mark.xdist_group("notifications"), pytest.mark.usefixtures("busybox_image")]

SECRET = "webhook-secret-7c1d2e9f"
SMTP_USER, SMTP_PASSWORD = "mailer", "smtp-password-3b8a61"

# Fails after ~5 s of unhealthy checks: time to stop the deployer while it runs.
SLOW_FAILING = """services:
  job:
    image: appos-test/busybox:latest
    pull_policy: never
    init: true
    command: ["sh", "-c", "exec sleep 600"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      timeout: 1s
      retries: 5
    restart: "no"
"""

# Deploys fine (running, no health check), then exits with code 3.
CRASHES_LATER = """services:
  job:
    image: appos-test/busybox:latest
    pull_policy: never
    init: true
    command: ["sh", "-c", "sleep 4; exit 3"]
    restart: "no"
"""


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"


def _smtp_login(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    good = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=good, handled=False)  # the server answers 235 or 535


@pytest.fixture(scope="module")
def notify_stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    """Quick retries: three attempts, 0.5 s then 1 s apart."""
    stack = start_stack(
        tmp_path_factory.mktemp("notify"),
        extra_env={"APPOS_NOTIFY_RETRY_BASE_SECONDS": "0.5", "APPOS_NOTIFY_MAX_ATTEMPTS": "3"},
    )
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def token(notify_stack: Stack) -> str:
    return notify_stack.login()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=_smtp_login, auth_require_tls=False
    )
    controller.start()
    yield inbox, port
    controller.stop()


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _create(stack: Stack, token: str, body: dict[str, Any]) -> dict[str, Any]:
    with stack.client(token) as c:
        r = c.post("/api/v1/notifications/targets", json=body)
    assert r.status_code == 200, r.text
    created: dict[str, Any] = r.json()
    return created


def _webhook(name: str, url: str, events: list[str], secret: str = SECRET) -> dict[str, Any]:
    return {"name": name, "webhook": {"url": url, "secret": secret}, "events": events}


def _target(stack: Stack, token: str, name: str) -> dict[str, Any]:
    with stack.client(token) as c:
        r = c.get(f"/api/v1/notifications/targets/{name}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _verify(request: Received, secret: str = SECRET) -> None:
    verify_signature(request, secret)


def _wait_event(
    stack: Stack, token: str, match: Callable[[dict[str, Any]], bool], *, after: int = 0
) -> dict[str, Any]:
    """Read the live event stream (server-sent events) until an event matches."""
    headers = {"Authorization": f"Bearer {token}"}
    timeout = httpx.Timeout(10, read=60)
    with httpx.stream(
        "GET", f"{stack.url}/api/v1/events", params={"after": after}, headers=headers, timeout=timeout
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                event: dict[str, Any] = json.loads(line.removeprefix("data: "))
                if match(event):
                    return event
    raise AssertionError("the event stream ended")


def _crash(stack: Stack, token: str) -> tuple[str, dict[str, Any]]:
    app = _name("crash")
    _, deployment = stack.deploy(token, {"name": app, "template": "busybox-crash"})
    assert deployment["status"] == "failed", deployment
    return app, deployment


def test_a_failed_deploy_sends_a_signed_webhook(notify_stack: Stack, token: str, receiver: Receiver) -> None:
    name = _name("hook")
    path = f"/ok/{name}"
    created = _create(notify_stack, token, _webhook(name, receiver.url(path), ["deployment_failed"]))
    assert created["kind"] == "webhook" and created["enabled"] is True
    assert created["webhook"] == {"url": receiver.url(path), "secret": "", "secret_set": True}

    app, deployment = _crash(notify_stack, token)
    [request] = wait_for(lambda: receiver.received(path, app=app), timeout=30, what="the webhook")
    _verify(request)
    body = request.json()
    assert body["event"] == "deployment_failed" and body["subject"] == deployment["id"]
    assert "exited with code 1" in body["message"] and body["payload"]["status"] == "failed"
    assert body["occurred_at"].endswith("Z") and body["seq"] > 0
    assert request.headers["x-appos-event"] == "deployment_failed"
    assert request.headers["x-appos-delivery"] == f"{body['seq']}-{name}"
    assert request.headers["content-type"] == "application/json"
    # a tampered body would not verify
    with pytest.raises(AssertionError):
        _verify(Received(request.path, request.headers, request.body.replace(b"failed", b"fine!"), 200))

    delivered = wait_for(
        lambda: (
            (t := _target(notify_stack, token, name)).get("last_delivery", {}).get("seq") == str(body["seq"])
            and t
        ),
        timeout=10,
        what="the recorded delivery",
    )
    assert delivered["last_delivery"]["status"] == "delivered"
    assert delivered["last_delivery"]["http_status"] == 200 and delivered["last_delivery"]["attempts"] == 1


def test_retries_until_the_receiver_answers_and_reports_a_lost_one(
    notify_stack: Stack, token: str, receiver: Receiver
) -> None:
    flaky, down = _name("flaky"), _name("down")
    _create(notify_stack, token, _webhook(flaky, receiver.url(f"/flaky/{flaky}"), ["deployment_failed"]))
    _create(notify_stack, token, _webhook(down, receiver.url(f"/down/{down}"), ["deployment_failed"]))
    app, _ = _crash(notify_stack, token)

    attempts = wait_for(
        lambda: (
            (found := receiver.received(f"/flaky/{flaky}", app=app)) and found[-1].answered == 200 and found
        ),
        timeout=30,
        what="the third attempt",
    )
    assert [r.answered for r in attempts] == [500, 500, 200]
    assert len({r.headers["x-appos-delivery"] for r in attempts}) == 1  # one delivery, three attempts
    for request in attempts:
        _verify(request)
    wait_for(
        lambda: _target(notify_stack, token, flaky)["last_delivery"].get("status") == "delivered",
        timeout=10,
        what="the delivery record",
    )
    assert _target(notify_stack, token, flaky)["last_delivery"]["attempts"] == 3

    failed = _wait_event(
        notify_stack, token, lambda e: e["type"] == "notification_failed" and e["subject"] == down
    )
    assert failed["payload"]["event"] == "deployment_failed"
    assert failed["payload"]["attempts"] == 3 and failed["payload"]["http_status"] == 500
    assert [r.answered for r in receiver.received(f"/down/{down}", app=app)] == [500, 500, 500]
    last = _target(notify_stack, token, down)["last_delivery"]
    assert last["status"] == "failed" and "HTTP 500" in last["error"]


def test_the_test_button_for_webhook_and_email(
    notify_stack: Stack, token: str, receiver: Receiver, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    hook = _name("hook")
    _create(notify_stack, token, _webhook(hook, receiver.url(f"/ok/{hook}"), []))
    with notify_stack.client(token) as c:
        r = c.post(f"/api/v1/notifications/targets/{hook}:test", json={})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivered" and r.json()["http_status"] == 200
    [request] = receiver.received(f"/ok/{hook}", event="test", subject=hook)
    _verify(request)

    mail = _name("mail")
    created = _create(
        notify_stack,
        token,
        {
            "name": mail,
            "email": {
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
                "username": SMTP_USER,
                "password": SMTP_PASSWORD,
                "from_address": "appos@example.test",
                "to": ["ops@example.test", "oncall@example.test"],
            },
            "events": ["app_unhealthy", "certificate_expiring"],
        },  # fmt: skip
    )
    assert created["email"]["password"] == "" and created["email"]["password_set"] is True
    with notify_stack.client(token) as c:
        r = c.post(f"/api/v1/notifications/targets/{mail}:test", json={})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "delivered", r.json()
    [envelope] = [m for m in inbox.messages if f"Test notification: {mail}".encode() in (m.content or b"")]
    assert envelope.mail_from == "appos@example.test"
    assert envelope.rcpt_tos == ["ops@example.test", "oncall@example.test"]
    assert f"a test notification from AppOS to {mail}".encode() in (envelope.content or b"")

    # a wrong password: the test says why, and nothing is sent
    with notify_stack.client(token) as c:
        spec = {**created, "email": {**created["email"], "password": "not-the-password"}}
        for key in ("kind", "last_delivery", "created_at", "updated_at"):
            spec.pop(key, None)
        spec["email"].pop("password_set")
        assert c.put(f"/api/v1/notifications/targets/{mail}", json=spec).status_code == 200
        result = c.post(f"/api/v1/notifications/targets/{mail}:test", json={}).json()
    assert result["status"] == "failed" and "refused the login" in result["error"]

    # nobody listening: a clear failure, recorded
    dead = _name("dead")
    _create(notify_stack, token, _webhook(dead, f"http://127.0.0.1:{free_port()}/x", []))
    with notify_stack.client(token) as c:
        result = c.post(f"/api/v1/notifications/targets/{dead}:test", json={}).json()
    assert result["status"] == "failed" and "could not connect" in result["error"]
    assert _target(notify_stack, token, dead)["last_delivery"]["status"] == "failed"


def test_bad_input_roles_and_secrets(notify_stack: Stack, token: str, receiver: Receiver) -> None:
    hook = _name("hook")
    url = receiver.url(f"/ok/{hook}")
    good = _webhook(hook, url, ["deployment_failed"])
    bad_bodies = [
        {**good, "name": "Not A Label"},
        {**good, "webhook": {"url": "file:///etc/passwd", "secret": SECRET}},
        {**good, "webhook": {"url": "http://user:pw@127.0.0.1/", "secret": SECRET}},
        {**good, "webhook": {"url": url, "secret": "short"}},
        {**good, "events": ["everything"]},
        {"name": hook},
        {"name": hook, "email": {"host": "127.0.0.1", "port": 70000, "from_address": "a@b.co",
                                 "to": ["c@d.co"]}},
        {"name": hook, "email": {"host": "127.0.0.1", "from_address": "nobody", "to": ["c@d.co"]}},
        {"name": hook, "email": {"host": "smtp.example.com", "security": "none", "username": "u",
                                 "password": "p4ss-word", "from_address": "a@b.co", "to": ["c@d.co"]}},
        {**good, "unknown_field": 1},
    ]  # fmt: skip
    with notify_stack.client(token) as c:
        for body in bad_bodies:
            r = c.post("/api/v1/notifications/targets", json=body)
            assert r.status_code == 400, (body, r.text)
            assert set(r.json()) == {"code", "message", "request_id"}, r.text
        assert c.get("/api/v1/notifications/targets").status_code == 200
        assert all(
            t["name"] != hook for t in c.get("/api/v1/notifications/targets").json().get("targets", [])
        )

        assert c.post("/api/v1/notifications/targets", json=good).status_code == 200
        duplicate = c.post("/api/v1/notifications/targets", json=good)
        assert duplicate.status_code == 409 and duplicate.json()["code"]
        assert c.get("/api/v1/notifications/targets/nope").status_code == 404
        assert c.post("/api/v1/notifications/targets/nope:test", json={}).status_code == 404
        assert c.delete("/api/v1/notifications/targets/nope").status_code == 404
        missing = c.put("/api/v1/notifications/targets/nope", json=_webhook("nope", url, []))
        assert missing.status_code == 404

        # a bad update changes nothing
        bad_update = {**good, "webhook": {"url": "gopher://x", "secret": ""}}
        assert c.put(f"/api/v1/notifications/targets/{hook}", json=bad_update).status_code == 400
        assert c.get(f"/api/v1/notifications/targets/{hook}").json()["webhook"]["url"] == url
        # an update without the secret keeps it (the test is still signed with it)
        kept = {**good, "webhook": {"url": url}, "events": ["app_unhealthy"], "enabled": False}
        updated = c.put(f"/api/v1/notifications/targets/{hook}", json=kept).json()
        assert updated["events"] == ["app_unhealthy"] and updated["enabled"] is False
        assert updated["webhook"]["secret_set"] is True
        assert c.post(f"/api/v1/notifications/targets/{hook}:test", json={}).json()["status"] == "delivered"
        [request] = receiver.received(f"/ok/{hook}", event="test")
        _verify(request)

        listed = c.get("/api/v1/notifications/targets").json()
        assert "deployment_failed" in listed["event_kinds"]
        for response_text in (json.dumps(listed), c.get(f"/api/v1/notifications/targets/{hook}").text):
            assert SECRET not in response_text and SMTP_PASSWORD not in response_text

        c.post("/api/v1/users", json={"username": "watcher", "password": "Viewer-passw0rd", "role": "viewer"})
        c.post(
            "/api/v1/users", json={"username": "doer", "password": "Operator-passw0rd", "role": "operator"}
        )
    for user, password in (("watcher", "Viewer-passw0rd"), ("doer", "Operator-passw0rd")):
        with notify_stack.client(notify_stack.login(user, password)) as c:
            assert c.get("/api/v1/notifications/targets").status_code == 403
            r = c.post("/api/v1/notifications/targets", json=_webhook(_name("x"), url, []))
            assert r.status_code == 403 and r.json()["code"]
            assert c.post(f"/api/v1/notifications/targets/{hook}:test", json={}).status_code == 403
            assert c.delete(f"/api/v1/notifications/targets/{hook}").status_code == 403
    with notify_stack.client() as c:
        assert c.get("/api/v1/notifications/targets").status_code == 401
        assert c.post(f"/api/v1/notifications/targets/{hook}:test", json={}).status_code == 401

    with notify_stack.client(token) as c:
        deleted = c.delete(f"/api/v1/notifications/targets/{hook}")
        assert deleted.status_code == 200 and SECRET not in deleted.text
        assert c.get(f"/api/v1/notifications/targets/{hook}").status_code == 404

    logs = "\n".join(
        p.read_text(errors="replace") for p in (notify_stack.data / "log").iterdir() if p.is_file()
    )
    assert "notify" in logs  # the logs are there
    assert SECRET not in logs and SMTP_PASSWORD not in logs and "not-the-password" not in logs


def test_nothing_is_missed_or_sent_twice_across_a_deployer_restart(
    notify_stack: Stack, token: str, receiver: Receiver
) -> None:
    name = _name("hook")
    path = f"/ok/{name}"
    _create(notify_stack, token, _webhook(name, receiver.url(path), ["deployment_failed"]))
    app = _name("slow")
    with notify_stack.client(token) as c:
        r = c.post("/api/v1/apps", json={"name": app, "compose": SLOW_FAILING, "env": ""})
    assert r.status_code == 202, r.text
    deployment_id = r.json()["deployment"]["id"]
    notify_stack.supervisorctl("stop", "deployer")
    try:
        # the worker fails the deployment while the deployer (and its dispatcher) is down
        _wait_event(
            notify_stack,
            token,
            lambda e: (
                e["type"] == "deployment_status"
                and e["subject"] == deployment_id
                and e["payload"]["status"] == "failed"
            ),
        )
        assert receiver.received(path, app=app) == []
    finally:
        notify_stack.supervisorctl("start", "deployer")
    [request] = wait_for(lambda: receiver.received(path, app=app), timeout=60, what="the missed webhook")
    _verify(request)
    assert request.json()["subject"] == deployment_id

    # a later event arrives, and the first one still came only once
    marker, _ = _crash(notify_stack, token)
    wait_for(lambda: receiver.received(path, app=marker), timeout=30, what="the next webhook")
    assert len(receiver.received(path, app=app)) == 1


def test_an_app_that_crashes_after_deploying_is_reported_unhealthy(
    notify_stack: Stack, token: str, receiver: Receiver
) -> None:
    name = _name("hook")
    path = f"/ok/{name}"
    _create(notify_stack, token, _webhook(name, receiver.url(path), ["app_unhealthy"]))
    app = _name("later")
    _, deployment = notify_stack.deploy(token, {"name": app, "compose": CRASHES_LATER, "env": ""})
    assert deployment["status"] == "succeeded", deployment
    [request] = wait_for(lambda: receiver.received(path, app=app), timeout=60, what="app_unhealthy")
    _verify(request)
    body = request.json()
    assert body["event"] == "app_unhealthy" and body["subject"] == app
    assert body["payload"]["service"] == "job" and body["payload"]["exit_code"] == 3
    assert "exited with code 3" in body["message"]


def test_an_automatic_rollback_is_notified(notify_stack: Stack, token: str, receiver: Receiver) -> None:
    name = _name("hook")
    path = f"/ok/{name}"
    _create(notify_stack, token, _webhook(name, receiver.url(path), ["auto_rollback"]))
    app = _name("rb")
    _, deployment = notify_stack.deploy(
        token, {"name": app, "template": "busybox-httpd", "settings": {"HTTP_PORT": str(free_port())}}
    )
    assert deployment["status"] == "succeeded", deployment
    with notify_stack.client(token) as c:
        current = c.get(f"/api/v1/apps/{app}/compose")
        broken = (
            current.json()["compose"]
            .replace('exec httpd -f -p 8080 -h /www"]', 'exit 3"]')
            .replace("restart: unless-stopped", 'restart: "no"')
        )
        assert broken != current.json()["compose"]
        r = c.put(
            f"/api/v1/apps/{app}/compose",
            json={"compose": broken, "env": current.json()["env"]},
            headers={"If-Match": current.headers["etag"]},
            params={"deploy": "true"},
        )
        assert r.status_code == 200, r.text
    failed = notify_stack.wait_deployment(token, r.json()["deployment"]["id"])
    assert "rolled back automatically to v1" in failed["reason"], failed
    [request] = wait_for(lambda: receiver.received(path, app=app), timeout=30, what="auto_rollback")
    _verify(request)
    body = request.json()
    assert body["event"] == "auto_rollback" and body["subject"] == app
    assert request.headers["x-appos-event"] == "auto_rollback"
    # only the event the target asked for: the failed deployment itself was not sent here
    time.sleep(1)  # give a wrongly sent deployment_failed the time to arrive (no timing asserted)
    assert [r.json()["event"] for r in receiver.received(path)] == ["auto_rollback"]


def test_the_cli(notify_stack: Stack, token: str, receiver: Receiver, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPOS_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path), APPOS_URL=notify_stack.url, APPOS_TOKEN=token, COLUMNS="200")

    def appos(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", "notify", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip

    name = _name("cli")
    added = appos("add", name, "--webhook", receiver.url(f"/ok/{name}"), "--event", "deployment_failed")
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip().splitlines()[-1]  # generated, shown once
    assert len(secret) >= 24 and "Signing secret" in added.stderr
    listed = appos("list", "--json")
    [mine] = [t for t in json.loads(listed.stdout) if t["name"] == name]
    assert mine["events"] == ["deployment_failed"] and secret not in listed.stdout
    assert name in appos("list").stdout

    tested = appos("test", name)
    assert tested.returncode == 0 and "delivered" in tested.stdout, tested.stderr
    [request] = receiver.received(f"/ok/{name}", event="test")
    _verify(request, secret)

    bad = appos("add", _name("x"), "--webhook", "ftp://example.com/")
    assert bad.returncode == 1 and "http:// or https://" in bad.stderr
    dead = _name("dead")
    assert appos("add", dead, "--webhook", f"http://127.0.0.1:{free_port()}/").returncode == 0
    failed = appos("test", dead)
    assert failed.returncode == 1 and "could not connect" in failed.stderr

    assert appos("remove", name).returncode == 0
    assert all(t["name"] != name for t in json.loads(appos("list", "--json").stdout))
    gone = appos("test", name)
    assert gone.returncode == 1 and "does not exist" in gone.stderr


def test_a_notification_is_not_held_up_by_a_running_backup(
    notify_stack: Stack, token: str, receiver: Receiver
) -> None:
    """Each kind of job has its own queue and threads: a failed deployment's webhook arrives while a
    backup fills the backups' threads (one by default). The backup archives an app folder holding a
    64 GiB sparse file, minutes of gzip; truncating the file ends it (the archive comes up short)."""
    app, _ = _crash(notify_stack, token)
    big = notify_stack.data / "apps" / app / "big.bin"
    with open(big, "wb") as sparse:
        sparse.truncate(64 << 30)
    try:
        with notify_stack.client(token) as c:
            r = c.post("/api/v1/backups", json={"message": "long"})
        assert r.status_code == 202, r.text
        backup_id = r.json()["id"]
        # the job runs: it has snapshotted the database and is archiving the app folders
        _wait_event(
            notify_stack,
            token,
            lambda e: (
                e["type"] == "backup_progress"
                and e["subject"] == backup_id
                and e["payload"].get("step") == "database"
            ),
        )

        name = _name("beside")
        path = f"/ok/{name}"
        _create(notify_stack, token, _webhook(name, receiver.url(path), ["deployment_failed"]))
        crashed, _ = _crash(notify_stack, token)
        wait_for(lambda: receiver.received(path, app=crashed), timeout=30, what="the webhook")
        with notify_stack.client(token) as c:
            backup = c.get(f"/api/v1/backups/{backup_id}").json()
        assert backup["status"] == "running", "the notification came after the backup, not beside it"
    finally:
        os.truncate(big, 0)

    def ended() -> dict[str, Any] | None:
        with notify_stack.client(token) as c:
            got: dict[str, Any] = c.get(f"/api/v1/backups/{backup_id}").json()
        return got if got["status"] != "running" else None

    assert wait_for(ended, timeout=60, interval=0.2, what="the cut-short backup")["status"] == "failed"
