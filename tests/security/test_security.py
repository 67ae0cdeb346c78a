"""The security suite, on one stack of its own (the brute-force test locks 127.0.0.1 out of login
for a minute, so it runs last but one; the secrets check runs last, over everything before it).

- every REST operation (from /openapi.json) and every public gRPC method (from reflection) called
  without a token, with an expired token, with a revoked API token and as each role → 401/403 as the
  `(appos.v1.access)` option says;
- an injection and traversal corpus in every name, path, domain, env key and compose field → 4xx,
  and nothing created on disk (APPOS_DATA/apps) or in Docker;
- the first-run admin cannot be taken over without a token; no public route but login and health;
- login brute force is limited; cross-origin WebSockets are refused;
- no secret used anywhere above appears in a log line, an event or the audit log.
"""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import jwt
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin, Subprotocol

from tests import consistency
from tests.fuzz.runner import BUSYBOX_COMPOSE
from tests.harness import Stack, start_stack
from tests.security import surface

pytestmark = pytest.mark.xdist_group("security")

ROLES = ("viewer", "operator", "admin")


@dataclass
class Suite:
    stack: Stack
    tokens: dict[str, str]  # role → access token
    expired: str
    revoked: str
    passwords: dict[str, str] = field(default_factory=dict)  # role → its user's password
    secrets: list[str] = field(default_factory=list)
    refused: int = 0  # attacks refused, for the README's figure


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory, busybox_image: str) -> Iterator[Suite]:
    stack = start_stack(tmp_path_factory.mktemp("security"))
    running: Suite | None = None
    try:
        admin = stack.login()
        passwords = {"admin": stack.admin_password()}
        tokens = {"admin": admin}
        with stack.client(admin) as c:
            for role in ("viewer", "operator"):
                passwords[role] = f"Sec-{role}-{uuid.uuid4().hex[:10]}"
                r = c.post(
                    "/api/v1/users",
                    json={"username": f"sec{role}", "password": passwords[role], "role": role},
                )
                assert r.status_code == 200, r.text
            created = c.post("/api/v1/tokens", json={"name": "to-revoke", "role": "admin"}).json()
            assert c.delete(f"/api/v1/tokens/{created['id']}").status_code == 200
            live = c.post("/api/v1/tokens", json={"name": "live", "role": "operator"}).json()
        for role in ("viewer", "operator"):
            tokens[role] = stack.login(f"sec{role}", passwords[role])
        key = _signing_key(stack)
        expired = _expired_token(key)
        running = Suite(
            stack=stack, tokens=tokens, expired=expired, revoked=created["secret"], passwords=passwords
        )
        running.secrets += [
            *passwords.values(),
            *tokens.values(),
            created["secret"],
            live["secret"],
            key,
            expired,
        ]
        yield running
    finally:
        try:  # the suite's own admin session: a key rotation in the matrix ended the first one
            consistency.remove_all_apps(stack, running.tokens["admin"] if running else admin)
        finally:
            stack.stop()


def _signing_key(stack: Stack) -> str:
    return (stack.data / "secrets" / "jwt.key").read_text().strip()


def _expired_token(key: str) -> str:
    now = int(time.time())
    claims = {"sub": "admin", "role": "admin", "uv": now * 1_000_000, "iat": now - 7200, "exp": now - 3600}
    return jwt.encode(claims, key, algorithm="HS256")


def _renew_after(suite: Suite, operation: str) -> None:
    """Rotating the signing key ends every session, the suite's own included: sign in again, and
    sign the expired token with the new key (so that it stays an expired token of ours)."""
    if not operation.endswith("RotateSigningKey"):
        return
    stack = suite.stack
    suite.tokens = {
        role: stack.login("admin" if role == "admin" else f"sec{role}", suite.passwords[role])
        for role in suite.tokens
    }
    key = _signing_key(stack)
    suite.expired = _expired_token(key)
    suite.secrets += [*suite.tokens.values(), key, suite.expired]


def _credentials(suite: Suite, operation: str = "") -> dict[str, str | None]:
    """Each kind of credential. Signing out ends the session it is called with: that operation gets
    a new login of each role, so the suite's own tokens keep working. A key rotation ends them all:
    the admin's call comes last, and `_renew_after` signs in again."""
    tokens = suite.tokens
    if operation.endswith("Logout"):
        tokens = {
            role: suite.stack.login("admin" if role == "admin" else f"sec{role}", suite.passwords[role])
            for role in suite.tokens
        }
        suite.secrets += tokens.values()
    if operation.endswith("RotateSigningKey"):  # it ends every session: the admin's call comes last
        tokens = {role: tokens[role] for role in sorted(tokens, key=ROLES.index)}
    return {"none": None, "expired": suite.expired, "revoked": suite.revoked, **tokens}


def _expected(credential: str, role: str) -> str:
    """'401', '403' or 'ok' (neither)."""
    if role == surface.PUBLIC:
        return "ok"
    if credential not in ROLES:
        return "401"
    return "ok" if surface.allowed(credential, role) else "403"


def _rest_call(c: httpx.Client, op: surface.RestOperation, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if op.body_type == "application/json":
        return c.request(op.method, op.url(), headers=headers, json={})
    if op.body_type is not None:
        return c.request(op.method, op.url(), headers={**headers, "Content-Type": op.body_type}, content=b"x")
    return c.request(op.method, op.url(), headers=headers)


def _reflected_roles(suite: Suite) -> dict[str, str]:
    with grpc.insecure_channel(f"127.0.0.1:{suite.stack.env['APPOS_GRPC_PORT']}") as channel:
        return {f"{m.service}.{m.name}": m.role for m in surface.grpc_methods(channel)}


def test_rest_matrix_of_every_operation(suite: Suite) -> None:
    stack = suite.stack
    with stack.client(suite.tokens["admin"]) as c:
        document = c.get("/openapi.json").json()
    operations = surface.rest_operations(document, _reflected_roles(suite))
    assert len(operations) >= 40
    public = sorted(f"{op.method} {op.path}" for op in operations if op.role == surface.PUBLIC)
    assert public == ["GET /health", "POST /api/v1/auth/login"], "no other route may be public"
    wrong = []
    with httpx.Client(base_url=stack.url, timeout=60) as c:
        for op in operations:
            if op.operation_id in ("Auth_Login", "Events_Stream"):
                continue  # login: the brute-force test; the event stream never ends (its auth: below)
            for credential, token in _credentials(suite, op.operation_id).items():
                expected = _expected(credential, op.role)
                got = _rest_call(c, op, token)
                body = (
                    got.json() if got.headers.get("content-type", "").startswith("application/json") else {}
                )
                ok = {
                    "401": got.status_code == 401 and body.get("code") == "unauthenticated",
                    "403": got.status_code == 403 and body.get("code") == "permission_denied",
                    "ok": got.status_code not in (401, 403) and got.status_code < 500,
                }[expected]
                if not ok:
                    wrong.append(f"{op.method} {op.path} as {credential}: {got.status_code} {got.text[:200]}")
                elif expected != "ok":
                    suite.refused += 1
            _renew_after(suite, op.operation_id)
    assert wrong == []
    # the event stream answers at once when refused (it would stream when allowed)
    with httpx.Client(base_url=stack.url, timeout=10) as c:
        for credential, token in _credentials(suite).items():
            if credential in ROLES:
                continue
            r = c.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"} if token else {})
            assert r.status_code == 401, (credential, r.text)
            suite.refused += 1


def test_grpc_matrix_of_every_public_method(suite: Suite) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{suite.stack.env['APPOS_GRPC_PORT']}") as channel:
        methods = surface.grpc_methods(channel)
        assert len(methods) >= 40
        assert {m.name for m in methods if m.role == surface.PUBLIC} == {"Login", "GetHealth"}
        wrong = []
        for method in methods:
            if method.name == "Login" or method.client_streaming:
                continue
            for credential, token in _credentials(suite, method.name).items():
                expected = _expected(credential, method.role)
                metadata = (("authorization", f"Bearer {token}"),) if token else ()
                try:
                    if method.server_streaming:
                        stream: Any = channel.unary_stream(method.path)(b"", metadata=metadata, timeout=30)  # type: ignore[arg-type]
                        for _ in stream:
                            break
                        stream.cancel()
                    else:
                        channel.unary_unary(method.path)(b"", metadata=metadata, timeout=30)  # type: ignore[arg-type]
                    code = grpc.StatusCode.OK
                except grpc.RpcError as exc:
                    code = exc.code()
                ok = {
                    "401": code == grpc.StatusCode.UNAUTHENTICATED,
                    "403": code == grpc.StatusCode.PERMISSION_DENIED,
                    "ok": code
                    not in (
                        grpc.StatusCode.UNAUTHENTICATED,
                        grpc.StatusCode.PERMISSION_DENIED,
                        grpc.StatusCode.INTERNAL,
                        grpc.StatusCode.UNKNOWN,
                    ),
                }[expected]
                if not ok:
                    wrong.append(f"{method.path} as {credential}: {code}")
                elif expected != "ok":
                    suite.refused += 1
            _renew_after(suite, method.name)
        assert wrong == []


CORPUS = [
    "a;id",
    "$(id)",
    "`id`",
    "../x",
    "..",
    "a/../../b",
    "/etc/passwd",
    "a\x00b",
    "x" * 300,
    "аpp",  # Cyrillic а
    "ａｐｐ",  # fullwidth
    "-h",
    "a b",
    "A\nB",
]


def _compose(service: str = "main", extra: str = "") -> str:
    return BUSYBOX_COMPOSE.replace("  main:", f"  {service}:").rstrip("\n") + "\n" + extra


def _yaml_str(value: str) -> str:
    import json

    return json.dumps(value)  # JSON strings are YAML strings


def _attacks(payload: str, app: str) -> list[tuple[str, str, dict[str, Any]]]:
    q = _yaml_str(payload)
    quoted = urllib.parse.quote(payload, safe="")
    return [
        ("POST", "/api/v1/apps", {"name": payload, "compose": BUSYBOX_COMPOSE, "env": ""}),
        ("POST", "/api/v1/apps", {"name": f"s{uuid.uuid4().hex[:6]}", "template": payload}),
        ("GET", f"/api/v1/catalog/{quoted}", {}),
        ("POST", "/api/v1/apps", {"name": f"s{uuid.uuid4().hex[:6]}", "compose": _compose(q), "env": ""}),
        (
            "POST",
            "/api/v1/apps",
            {"name": f"s{uuid.uuid4().hex[:6]}", "compose": BUSYBOX_COMPOSE, "env": f"{payload}=1\n"},
        ),
        (
            "POST",
            "/api/v1/apps",
            {
                "name": f"s{uuid.uuid4().hex[:6]}",
                "compose": _compose(extra=f"    volumes: [{q}:/data]\n"),
                "env": "",
            },
        ),
        (
            "POST",
            "/api/v1/apps",
            {
                "name": f"s{uuid.uuid4().hex[:6]}",
                "compose": _compose(extra=f"    env_file: [{q}]\n"),
                "env": "",
            },
        ),
        (
            "POST",
            "/api/v1/apps",
            {
                "name": f"s{uuid.uuid4().hex[:6]}",
                "compose": _compose(extra=f"    container_name: {q}\n"),
                "env": "",
            },
        ),
        ("GET", f"/api/v1/apps/{quoted}", {}),
        ("GET", f"/api/v1/apps/{quoted}/compose", {}),
        ("POST", f"/api/v1/apps/{quoted}/redeploy", {}),
        ("DELETE", f"/api/v1/apps/{quoted}", {}),
        ("POST", "/api/v1/users", {"username": payload, "password": "Long-enough-pw-1", "role": "viewer"}),
        ("POST", "/api/v1/proxy/domains", {"domain": payload, "app": app, "service": "main", "port": 80}),
        ("POST", "/api/v1/proxy/domains", {"domain": f"{payload}.example.com", "app": app, "port": 80}),
        ("DELETE", f"/api/v1/proxy/domains/{quoted}", {}),
    ]


def test_injection_and_traversal_corpus_is_refused_and_creates_nothing(suite: Suite) -> None:
    stack = suite.stack
    admin = suite.tokens["admin"]
    app = f"sapp{uuid.uuid4().hex[:6]}"
    secret_value = f"env-secret-{uuid.uuid4().hex}"
    suite.secrets.append(secret_value)
    _reply, ended = stack.deploy(
        admin, {"name": app, "compose": BUSYBOX_COMPOSE, "env": f"API_SECRET={secret_value}\n"}
    )
    assert ended["status"] == "succeeded", ended
    apps_dir = stack.data / "apps"
    before_dirs = sorted(p.name for p in apps_dir.iterdir())
    before_containers = sorted(c.name for c in consistency.stack_containers(stack))
    accepted = []
    with stack.client(admin) as c:
        for payload in CORPUS:
            for method, path, body in _attacks(payload, app):
                r = c.request(method, path, json=body) if body else c.request(method, path)
                if 400 <= r.status_code < 500:
                    suite.refused += 1
                else:
                    accepted.append(f"{method} {path} {str(body)[:120]!r}: {r.status_code} {r.text[:200]}")
    assert accepted == [], "\n".join(accepted)
    assert consistency.wait_settled(stack, admin, timeout=60) == []
    assert sorted(p.name for p in apps_dir.iterdir()) == before_dirs
    assert sorted(c.name for c in consistency.stack_containers(stack)) == before_containers
    with stack.client(admin) as c:
        assert [a["name"] for a in c.get("/api/v1/apps").json()["apps"]] == [app]


def test_first_run_admin_cannot_be_taken_over_without_a_token(suite: Suite) -> None:
    stack = suite.stack
    attempts = [
        ("POST", "/api/v1/users", {"username": "admin", "password": "Taken-over-pw-1", "role": "admin"}),
        ("POST", "/api/v1/users", {"username": "admin2", "password": "Taken-over-pw-1", "role": "admin"}),
        ("PATCH", "/api/v1/users/admin", {"password": "Taken-over-pw-1"}),
        ("DELETE", "/api/v1/users/admin", {}),
        ("POST", "/api/v1/auth/password", {"current_password": "", "new_password": "Taken-over-pw-1"}),
    ]
    with stack.client() as c:
        for method, path, body in attempts:
            r = c.request(method, path, json=body) if body else c.request(method, path)
            assert r.status_code == 401, (method, path, r.text)
            suite.refused += 1
    with stack.client(suite.tokens["admin"]) as c:
        users = {u["username"]: u for u in c.get("/api/v1/users").json()["users"]}
    assert set(users) == {"admin", "secviewer", "secoperator"}
    assert users["admin"]["role"] == "admin" and not users["admin"].get("disabled", False)
    stack.login("admin", stack.admin_password())  # the password is unchanged


def test_cross_origin_websockets_are_refused(suite: Suite) -> None:
    stack = suite.stack
    token = suite.tokens["admin"]
    for path in ("/api/v1/terminal/ws?target=host", "/api/v1/events/ws"):
        with pytest.raises(InvalidStatus) as refused:
            connect(
                f"ws://127.0.0.1:{stack.port}{path}",
                subprotocols=[Subprotocol("appos.v1"), Subprotocol(f"bearer.{token}")],
                origin=Origin("http://evil.example"),
                open_timeout=10,
            )
        assert refused.value.response.status_code == 403
        suite.refused += 1


def test_login_brute_force_is_limited(suite: Suite) -> None:
    stack = suite.stack
    statuses = []
    with stack.client() as c:
        for i in range(8):
            guess = {"username": "admin", "password": f"guess-{i}-wrong"}
            statuses.append(c.post("/api/v1/auth/login", json=guess).status_code)
        right = c.post("/api/v1/auth/login", json={"username": "admin", "password": stack.admin_password()})
        spray = [
            c.post("/api/v1/auth/login", json={"username": f"spray{i}", "password": "wrong-pw"}).status_code
            for i in range(20)
        ]
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429] * 3, statuses
    assert right.status_code == 429, "even the right password waits at this address"
    assert spray[0] == 401 and spray[-1] == 429, "other names are not locked; the address is, at 20"
    suite.refused += 4 + spray.count(429)


def test_no_secret_in_any_log_event_or_audit_entry(suite: Suite) -> None:
    """Last: everything the suite did, with every secret it used, is in the logs and the database."""
    stack = suite.stack
    logs = "\n".join(p.read_text(errors="replace") for p in (stack.data / "log").iterdir() if p.is_file())
    db = sqlite3.connect(f"file:{stack.data / 'appos.db'}?mode=ro", uri=True)
    try:
        events = "\n".join(
            f"{t} {s} {a} {p}"
            for t, s, a, p in db.execute("SELECT type, subject, actor, payload_json FROM events")
        )
        audit = "\n".join(str(row) for row in db.execute("SELECT * FROM audit_log"))
    finally:
        db.close()
    assert "login_succeeded" in events and "gateway" in logs  # the records are really there
    leaks = [
        (where, secret[:6] + "…")
        for secret in suite.secrets
        for where, text in (("logs", logs), ("events", events), ("audit", audit))
        if secret in text
    ]
    assert leaks == []
    assert "$argon2" not in logs + events + audit
    print(f"security suite: {suite.refused} attacks refused")  # noqa: T201
