"""Issue 16 §2 as a viewer would try it, through REST, the public gRPC port and the event streams:
the .env's names and never its values (compose, versions, diffs, events), a version hash and ETag
that cannot check a guess, no security events, and failed logins that never record what was typed."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from appos.v1 import apps_pb2, apps_pb2_grpc
from tests.harness import Stack

# the values a viewer recovered before: none of them may reach a viewer in any form
VALUES = {
    "DATABASE_URL": "postgres://app:S3cretPw@db/app",
    "MYAPP_ADMIN_PW": "letmein",
    "DB_PASSWORD": "sunshine7",
}
ENV = "".join(f"{k}={v}\n" for k, v in VALUES.items())
COMPOSE = (
    "services:\n  one:\n    image: appos-test/busybox:latest\n    pull_policy: never\n    init: true\n"
    '    command: ["sh", "-c", "exec sleep 3600"]\n'
)
SECRETS = [*VALUES.values(), "S3cretPw", "moonlight8"]


def _user(stack: Stack, admin_token: str, role: str) -> str:
    name, password = f"vs{role[:2]}{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with stack.client(admin_token) as c:
        r = c.post("/api/v1/users", json={"username": name, "password": password, "role": role})
    assert r.status_code == 200, r.text
    return stack.login(name, password)


@pytest.fixture(scope="module")
def app(stack: Stack, admin_token: str, busybox_image: str) -> Iterator[str]:
    """An app at v2: v1 as created, v2 with DB_PASSWORD changed (stored, not deployed)."""
    name = f"vs{uuid.uuid4().hex[:8]}"
    _, deployment = stack.deploy(admin_token, {"name": name, "compose": COMPOSE, "env": ENV})
    assert deployment["status"] == "succeeded", deployment
    with stack.client(admin_token) as c:
        etag = c.get(f"/api/v1/apps/{name}/compose").headers["etag"]
        edited = ENV.replace("sunshine7", "moonlight8")
        r = c.put(
            f"/api/v1/apps/{name}/compose",
            json={"compose": COMPOSE, "env": edited},
            headers={"If-Match": etag},
        )
    assert r.status_code == 200, r.text
    yield name
    assert stack.act(admin_token, name, "remove")["status"] == "succeeded"


@pytest.fixture(scope="module")
def viewer(stack: Stack, admin_token: str) -> str:
    return _user(stack, admin_token, "viewer")


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_a_viewer_reads_the_names_and_never_a_value(stack: Stack, viewer: str, app: str) -> None:
    with stack.client(viewer) as c:
        compose = c.get(f"/api/v1/apps/{app}/compose").json()
        v1, v2 = (c.get(f"/api/v1/apps/{app}/versions/{n}").json() for n in (1, 2))
        diff = c.get(f"/api/v1/apps/{app}/versions/2/diff").json()
        diff_v1 = c.get(f"/api/v1/apps/{app}/versions/1/diff").json()
        listed = c.get(f"/api/v1/apps/{app}/versions").json()
        assert (
            c.get(f"/api/v1/apps/{app}/versions/2/diff", params={"reveal_secrets": "true"}).status_code == 403
        )
    names_only = "".join(f"{k}=********\n" for k in VALUES)
    assert compose["env_masked"] is True and compose["env"] == names_only
    assert v1["env"] == v2["env"] == names_only
    assert diff["env_diff"] == "", "a changed value is not even visible as a change"
    assert "+DATABASE_URL=********" in diff_v1["env_diff"]
    assert _leaks(json.dumps([compose, v1, v2, diff, diff_v1, listed])) == []


def test_operators_and_admins_read_as_before(stack: Stack, admin_token: str, app: str) -> None:
    operator = _user(stack, admin_token, "operator")
    with stack.client(operator) as c:
        compose = c.get(f"/api/v1/apps/{app}/compose").json()
        v2 = c.get(f"/api/v1/apps/{app}/versions/2").json()
        diff = c.get(f"/api/v1/apps/{app}/versions/1/diff").json()["env_diff"]
    assert compose["env_masked"] is False and "DATABASE_URL=postgres://app:S3cretPw@db/app" in compose["env"]
    assert "DB_PASSWORD=moonlight8" in v2["env"]
    # diffs mask secret-looking keys only, as before
    assert "+DB_PASSWORD=********" in diff and "+DATABASE_URL=postgres://app:S3cretPw@db/app" in diff
    with stack.client(admin_token) as c:
        revealed = c.get(f"/api/v1/apps/{app}/versions/2/diff", params={"reveal_secrets": "true"}).json()
    assert (
        "-DB_PASSWORD=sunshine7" in revealed["env_diff"] and "+DB_PASSWORD=moonlight8" in revealed["env_diff"]
    )


def test_the_public_grpc_port_masks_the_same(stack: Stack, viewer: str, app: str) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{stack.env['APPOS_GRPC_PORT']}") as channel:
        apps = apps_pb2_grpc.AppsStub(channel)
        bearer = (("authorization", f"Bearer {viewer}"),)
        files = apps.GetCompose(apps_pb2.GetComposeRequest(app=app), metadata=bearer, timeout=30)
        version = apps.GetVersion(apps_pb2.GetVersionRequest(app=app, number=1), metadata=bearer, timeout=30)
    assert files.env_masked and _leaks(files.env + version.env) == []
    assert files.env.count("=********") == len(VALUES)


def _old_hash(compose: str, env: str) -> str:
    """The hash versions carried before (unkeyed SHA-256 of the length-prefixed files)."""
    digest = hashlib.sha256()
    for part in (compose, env):
        digest.update(len(part.encode()).to_bytes(8, "big"))
        digest.update(part.encode())
    return digest.hexdigest()


def test_the_hash_and_etag_cannot_check_a_guess(
    stack: Stack, admin_token: str, viewer: str, app: str
) -> None:
    with stack.client(viewer) as c:
        r = c.get(f"/api/v1/apps/{app}/compose")
        listed = c.get(f"/api/v1/apps/{app}/versions").json()["versions"]
    seen, etag = r.json(), r.headers["etag"]
    right = ENV.replace("sunshine7", "moonlight8")  # the true files: even the right guess does not match
    plain = [
        _old_hash(COMPOSE, right),
        hashlib.sha256((COMPOSE + right).encode()).hexdigest(),
        hashlib.sha256(right.encode()).hexdigest(),
    ]
    assert len(seen["hash"]) == 64 and seen["hash"] not in plain
    assert all(h[:16] not in etag for h in plain)
    assert etag == seen["etag"] and seen["hash"][:16] in etag
    assert listed[0]["hash"] == seen["hash"] and listed[1]["hash"] != seen["hash"]
    with stack.client(admin_token) as c:  # every reader gets the same hash and ETag, and edits work
        mine = c.get(f"/api/v1/apps/{app}/compose")
        assert (mine.json()["hash"], mine.headers["etag"]) == (seen["hash"], etag)
        stale = c.put(
            f"/api/v1/apps/{app}/compose",
            json={"compose": COMPOSE, "env": ENV},
            headers={"If-Match": '"v1-0000000000000000"'},
        )
        assert stale.status_code == 409
        back = c.put(
            f"/api/v1/apps/{app}/compose",
            json={"compose": COMPOSE, "env": ENV, "message": "back"},
            headers={"If-Match": etag},
        )
        assert back.status_code == 200, back.text
        v1 = c.get(f"/api/v1/apps/{app}/versions/1").json()
    assert back.json()["version"]["hash"] == v1["hash"], "equal files, equal hashes"


def _last_seq(stack: Stack, token: str) -> int:
    with stack.client(token) as c:
        return int(c.get("/api/v1/system/info").json()["last_event_seq"])


def _sse_until(
    stack: Stack, token: str, after: int, done: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.stream(
        "GET", f"{stack.url}/api/v1/events", params={"after": after}, headers=headers, timeout=30
    ) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
                if done(seen[-1]):
                    break
    return seen


def _ws_until(
    stack: Stack, token: str, after: int, done: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    url = f"ws://127.0.0.1:{stack.port}/api/v1/events/ws?after={after}"
    seen: list[dict[str, Any]] = []
    with connect(url, subprotocols=[Subprotocol("appos.v1"), Subprotocol(f"bearer.{token}")]) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        while not seen or not done(seen[-1]):
            message = json.loads(ws.recv(timeout=10))
            if message.get("type") != "keepalive":
                seen.append(message)
    return seen


def test_events_are_filtered_by_role(stack: Stack, admin_token: str, viewer: str, app: str) -> None:
    start = _last_seq(stack, admin_token)
    typed = f"Hunter2-{uuid.uuid4().hex[:8]}"
    with stack.client() as c:  # a password typed into the username field
        assert c.post("/api/v1/auth/login", json={"username": typed, "password": "x"}).status_code == 401
    with stack.client(admin_token) as c:
        name = f"vsev{uuid.uuid4().hex[:6]}"
        c.post("/api/v1/users", json={"username": name, "password": "p" * 12, "role": "viewer"})
        c.post("/api/v1/tokens", json={"name": "vs-events"})
        etag = c.get(f"/api/v1/apps/{app}/compose").headers["etag"]
        marker = f"marker {uuid.uuid4().hex}"
        r = c.put(
            f"/api/v1/apps/{app}/compose",
            json={"compose": COMPOSE + "# edited\n", "env": ENV, "message": marker},
            headers={"If-Match": etag},
        )
        assert r.status_code == 200, r.text

    def the_edit(event: dict[str, Any]) -> bool:
        return bool(event["type"] == "version_created" and event["payload"].get("message") == marker)

    as_admin = _sse_until(stack, admin_token, start, the_edit)
    as_viewer = _sse_until(stack, viewer, start, the_edit)
    over_ws = _ws_until(stack, viewer, start, the_edit)
    admin_types = {e["type"] for e in as_admin}
    assert {"login_failed", "user_created", "token_created", "version_created"} <= admin_types
    for events in (as_viewer, over_ws):
        types = {e["type"] for e in events}
        assert "version_created" in types
        assert not types & {"login_failed", "login_succeeded", "user_created", "token_created"}, types
        assert all(
            t.startswith(("app_", "deployment_", "version_", "domain_", "certificate_")) for t in types
        )
    assert [e["seq"] for e in as_viewer] == [e["seq"] for e in over_ws]
    failed = [e for e in as_admin if e["type"] == "login_failed"]
    assert any(e["subject"] == e["actor"] == "unknown user" for e in failed), failed
    everything = json.dumps(as_admin)
    assert typed not in everything and typed.lower() not in everything
    assert all("hash" not in e["payload"] for e in as_admin if e["type"] == "version_created")
    assert _leaks(everything) == []
