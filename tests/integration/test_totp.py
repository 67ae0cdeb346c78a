"""Two-factor authentication (TOTP) through the real stack: set up over REST, then required at login
and for the terminal WebSocket, codes computed with pyotp as an authenticator app would. Each test
has users of its own (a code is accepted once per user), and the failures come from loopback
addresses of their own. The module's stack keeps the default failed-login limits (the session's
stack lifts them)."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from appos.v1 import state_pb2, state_pb2_grpc
from services.common import totp
from services.common.clients import sync_channel
from tests.harness import Stack, start_stack, wait_for

# one worker runs this module: its module-scoped stack exists once
pytestmark = pytest.mark.xdist_group("totp")
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("totp"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def admin_token(stack: Stack) -> str:
    return stack.login()


@dataclass
class TwoFactorUser:
    """A user with 2FA on, and a token from a login made before it was turned on."""

    name: str
    password: str
    secret: str
    token: str
    recovery_codes: list[str]
    last_step: int
    used: list[str] = field(default_factory=list)

    def code(self) -> str:
        """The next code an authenticator app would show that was not used yet (one step ahead of
        now at most, as the server accepts; the step after that is waited for)."""
        step = wait_for(
            lambda: (s := max(totp.current_step(), self.last_step + 1)) <= totp.current_step() + 1 and s,
            timeout=2 * totp.STEP_SECONDS + 5,
            interval=0.5,
            what="a new time step",
        )
        self.last_step = step
        code = pyotp.TOTP(self.secret).generate_otp(step)
        self.used.append(code)
        return code

    def wrong_code(self) -> str:
        """Six digits that are no code near now."""
        now = totp.current_step()
        near = {pyotp.TOTP(self.secret).generate_otp(s) for s in range(now - 3, now + 4)}
        return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


def client(stack: Stack, token: str = "", source: str = "127.0.0.1") -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=stack.url, headers=headers, transport=transport, timeout=30)


def source_address() -> str:
    """A loopback address of this test's own."""
    return f"127.{uuid.uuid4().int % 200 + 20}.{uuid.uuid4().int % 250 + 1}.{uuid.uuid4().int % 250 + 1}"


def login(stack: Stack, name: str, password: str, source: str = "127.0.0.1", **extra: str) -> httpx.Response:
    with client(stack, source=source) as c:
        return c.post("/api/v1/auth/login", json={"username": name, "password": password, **extra})


def make_user(stack: Stack, admin_token: str, role: str = "viewer") -> tuple[str, str]:
    name, password = f"tfa{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    with stack.client(admin_token) as c:
        r = c.post("/api/v1/users", json={"username": name, "password": password, "role": role})
    assert r.status_code == 200, r.text
    return name, password


def enable(stack: Stack, name: str, password: str) -> TwoFactorUser:
    r = login(stack, name, password)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    with stack.client(token) as c:
        begun = c.post("/api/v1/auth/totp:begin", json={})
        assert begun.status_code == 200, begun.text
        secret = begun.json()["secret"]
        step = totp.current_step()
        confirmed = c.post("/api/v1/auth/totp:confirm", json={"code": pyotp.TOTP(secret).generate_otp(step)})
    assert confirmed.status_code == 200, confirmed.text
    return TwoFactorUser(name, password, secret, token, confirmed.json()["recovery_codes"], step)


def user_with_2fa(stack: Stack, admin_token: str, role: str = "viewer") -> TwoFactorUser:
    return enable(stack, *make_user(stack, admin_token, role))


def state_events(stack: Stack) -> list[Any]:
    channel = sync_channel(stack.run_dir / "state.sock")
    try:
        reply = state_pb2_grpc.StateStub(channel).ListEvents(
            state_pb2.StateListEventsRequest(after_seq=0, limit=1000), timeout=10
        )
    finally:
        channel.close()
    return list(reply.events)


def audit_rows(stack: Stack, admin_token: str, action: str) -> list[dict[str, Any]]:
    with stack.client(admin_token) as c:
        r = c.get("/api/v1/audit", params={"action": f"appos.v1.Auth.{action}"})
    assert r.status_code == 200, r.text
    return list(r.json().get("entries", []))


def test_set_up_then_login_needs_a_code_once_and_recovery_codes_once(stack: Stack, admin_token: str) -> None:
    name, password = make_user(stack, admin_token)
    src = source_address()
    token = login(stack, name, password).json()["access_token"]
    with stack.client(token) as c:
        assert c.get("/api/v1/auth/me").json().get("totp_enabled", False) is False
        begun = c.post("/api/v1/auth/totp:begin", json={}).json()
        secret = begun["secret"]
        assert (
            begun["otpauth_uri"].startswith(f"otpauth://totp/AppOS:{name}?")
            and secret in begun["otpauth_uri"]
        )
        assert begun["qr_svg"].startswith("<svg") and begun["qr_svg"].rstrip().endswith("</svg>")
        wrong = c.post("/api/v1/auth/totp:confirm", json={"code": "12345"})
        assert wrong.status_code == 400 and "wrong" in wrong.json()["message"]
        assert c.get("/api/v1/auth/me").json().get("totp_enabled", False) is False
        assert login(stack, name, password).status_code == 200, "not on until confirmed"
        step = totp.current_step()
        confirmed = c.post("/api/v1/auth/totp:confirm", json={"code": pyotp.TOTP(secret).generate_otp(step)})
        assert confirmed.status_code == 200, confirmed.text
        codes = confirmed.json()["recovery_codes"]
        assert len(codes) == 10 and confirmed.json()["user"]["totp_enabled"] is True
        assert c.get("/api/v1/auth/me").json()["totp_enabled"] is True
        again = c.post("/api/v1/auth/totp:begin", json={})
        assert again.status_code == 400 and "already on" in again.json()["message"]
    user = TwoFactorUser(name, password, secret, token, codes, step)

    needs = login(stack, name, password)
    assert needs.status_code == 401
    assert needs.json()["code"] == "totp_required" and "totp_code" in needs.json()["message"]
    bad_password = login(stack, name, "wrong-password", source=src, totp_code=user.wrong_code())
    assert bad_password.status_code == 401 and bad_password.json()["code"] == "unauthenticated"
    assert bad_password.json()["message"] == "invalid username or password"

    code = user.code()
    ok = login(stack, name, password, totp_code=code)
    assert ok.status_code == 200, ok.text
    assert ok.json()["user"]["totp_enabled"] is True
    replayed = login(stack, name, password, source=src, totp_code=code)
    assert replayed.status_code == 401 and replayed.json()["code"] == "totp_invalid"
    assert "already used" in replayed.json()["message"]

    assert login(stack, name, password, recovery_code=codes[0].upper()).status_code == 200
    reused = login(stack, name, password, source=src, recovery_code=codes[0])
    assert reused.status_code == 401 and "recovery code" in reused.json()["message"]

    # the secret and the codes never reach the event log, the audit log or a log file
    events = state_events(stack)
    assert ("totp_enabled", name) in [(e.type, e.subject) for e in events]
    assert ("totp_recovery_code_used", name) in [(e.type, e.subject) for e in events]
    logs = "".join(stack.log(p) for p in ("gateway", "state"))
    audit = json.dumps(
        audit_rows(stack, admin_token, "ConfirmTotpSetup") + audit_rows(stack, admin_token, "Login")
    )
    for secret_text in (secret, *codes, *user.used):
        for where, text in (("events", repr(events)), ("logs", logs), ("audit", audit)):
            assert secret_text not in text, where
    assert any(
        r["actor"] == name and r["result"] == "ok" for r in audit_rows(stack, admin_token, "ConfirmTotpSetup")
    )


def test_wrong_codes_count_as_failed_logins(stack: Stack, admin_token: str) -> None:
    user = user_with_2fa(stack, admin_token)
    here, elsewhere = source_address(), source_address()
    for _ in range(5):  # the default limit: 5 failures per user and address
        r = login(stack, user.name, user.password, source=here, totp_code=user.wrong_code())
        assert r.status_code == 401 and r.json()["code"] == "totp_invalid", r.text
    code = user.code()
    limited = login(stack, user.name, user.password, source=here, totp_code=code)
    assert limited.status_code == 429 and "try again in" in limited.json()["message"]
    # the password alone (asking for the code) neither counts nor clears anything
    assert login(stack, user.name, user.password, source=elsewhere).json()["code"] == "totp_required"
    # refused before the code was looked at, so it still works from elsewhere
    assert login(stack, user.name, user.password, source=elsewhere, totp_code=code).status_code == 200
    failed = [e for e in state_events(stack) if e.type == "login_failed" and e.subject == user.name]
    assert len(failed) == 5 and all("two-factor code (login)" in e.payload_json for e in failed)


@contextlib.contextmanager
def _terminal(
    stack: Stack,
    token: str,
    *,
    code: str = "",
    first: dict[str, str] | None = None,
    source: str = "127.0.0.1",
) -> Iterator[ClientConnection]:
    """A host terminal's WebSocket: the token (and code) as subprotocols, or in a `first` message."""
    url = f"ws://127.0.0.1:{stack.port}/api/v1/terminal/ws?target=host"
    protocols = None
    if first is None:
        protocols = [Subprotocol("appos.v1"), Subprotocol(f"bearer.{token}")]
        protocols += [Subprotocol(f"totp.{code}")] if code else []
    with connect(url, subprotocols=protocols, max_size=None, source_address=(source, 0)) as ws:
        if first is not None:
            ws.send(json.dumps(first))
        yield ws


def _first(ws: ClientConnection) -> tuple[dict[str, Any], int]:
    """The first control message, and the close code when it was a refusal (0 when opened)."""
    message = json.loads(ws.recv(timeout=TIMEOUT))
    if message["type"] == "opened":
        return message, 0
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None
    return message, closed.value.rcvd.code


def _echo(ws: ClientConnection) -> None:
    ws.send(b"echo two-factor-$((6*7))\r")
    seen = b""
    deadline = time.monotonic() + TIMEOUT
    while b"two-factor-42" not in seen and time.monotonic() < deadline:
        frame = ws.recv(timeout=TIMEOUT)
        seen += frame if isinstance(frame, bytes) else b""
    assert b"two-factor-42" in seen
    ws.send(json.dumps({"type": "close"}))


def test_terminal_needs_a_fresh_code_from_a_login_but_not_from_an_api_token(
    stack: Stack, admin_token: str
) -> None:
    user = user_with_2fa(stack, admin_token, role="admin")
    src = source_address()
    with _terminal(stack, user.token) as ws:
        message, close = _first(ws)
    assert (message["code"], close) == ("totp_required", 4401) and "6-digit code" in message["message"]
    with _terminal(stack, user.token, code=user.wrong_code(), source=src) as ws:
        message, close = _first(ws)
    assert (message["code"], close) == ("totp_invalid", 4401)
    code = user.code()
    with _terminal(stack, user.token, code=code) as ws:
        opened, _ = _first(ws)
        assert opened["type"] == "opened"
        _echo(ws)
    with _terminal(stack, user.token, code=code, source=src) as ws:  # the same code again
        message, close = _first(ws)
    assert close == 4401 and "already used" in message["message"]
    other = user_with_2fa(stack, admin_token, role="admin")  # a fresh code without waiting for the clock
    with _terminal(stack, other.token, first={"token": other.token, "totp_code": other.code()}) as ws:
        assert _first(ws)[0]["type"] == "opened"
        _echo(ws)
    with stack.client(user.token) as c:
        api_token = c.post("/api/v1/tokens", json={"name": "script", "totp_code": user.code()}).json()[
            "secret"
        ]
    with _terminal(stack, api_token) as ws:  # scripts: never asked for a code
        assert _first(ws)[0]["type"] == "opened"
        _echo(ws)


def test_a_session_needs_a_code_to_create_an_api_token_and_stays_signed_in(
    stack: Stack, admin_token: str
) -> None:
    """A token is never asked for a code, so a stolen session alone must not be able to mint one."""
    user = user_with_2fa(stack, admin_token, role="operator")
    src = source_address()
    with client(stack, user.token, source=src) as c:
        asked = c.post("/api/v1/tokens", json={"name": "stolen"})
        assert asked.status_code == 403, asked.text
        assert asked.json()["code"] == "totp_required" and "create an API token" in asked.json()["message"]
        wrong = c.post("/api/v1/tokens", json={"name": "stolen", "totp_code": user.wrong_code()})
        assert (wrong.status_code, wrong.json()["code"]) == (403, "totp_invalid"), wrong.text
        assert c.get("/api/v1/auth/me").status_code == 200  # a refused code does not end the session
        made = c.post("/api/v1/tokens", json={"name": "script", "totp_code": user.code()})
        assert made.status_code == 200, made.text
        listed = c.get("/api/v1/tokens").json()["tokens"]
    assert [t["name"] for t in listed] == ["script"]
    with stack.client(made.json()["secret"]) as c:  # a script's token needs no code for another one
        assert c.post("/api/v1/tokens", json={"name": "child"}).status_code == 200
    failed = [e for e in state_events(stack) if e.type == "login_failed" and e.subject == user.name]
    assert any("new API token" in e.payload_json for e in failed)


def test_admin_reset_lets_the_user_in_with_the_password_and_only_admins_may(
    stack: Stack, admin_token: str
) -> None:
    user = user_with_2fa(stack, admin_token)
    for role in ("viewer", "operator"):
        name, password = make_user(stack, admin_token, role)
        with stack.client(login(stack, name, password).json()["access_token"]) as c:
            refused = c.delete(f"/api/v1/users/{user.name}/totp")
        assert refused.status_code == 403, (role, refused.text)
    assert login(stack, user.name, user.password).json()["code"] == "totp_required"
    with stack.client(admin_token) as c:
        reset = c.delete(f"/api/v1/users/{user.name}/totp")
        assert reset.status_code == 200 and reset.json()["totp_enabled"] is False
        listed = {
            u["username"]: u for u in c.get("/api/v1/users", params={"page_size": 1000}).json()["users"]
        }
    assert listed[user.name].get("totp_enabled", False) is False
    assert login(stack, user.name, user.password).status_code == 200
    assert ("totp_reset", user.name, "admin") in [(e.type, e.subject, e.actor) for e in state_events(stack)]
    rows = audit_rows(stack, admin_token, "ResetTotp")
    assert any(r["actor"] == "admin" and r["target"] == user.name and r["result"] == "ok" for r in rows)
    assert any(r["result"] == "permission_denied" and r["target"] == user.name for r in rows)


def test_turning_it_off_needs_the_password_or_a_code(stack: Stack, admin_token: str) -> None:
    user = user_with_2fa(stack, admin_token)
    with stack.client(user.token) as c:
        assert c.post("/api/v1/auth/totp:disable", json={}).status_code == 400
        wrong = c.post("/api/v1/auth/totp:disable", json={"password": "not-it"})
        assert wrong.status_code == 403 and c.get("/api/v1/auth/me").json()["totp_enabled"] is True
        assert c.post("/api/v1/auth/totp:disable", json={"code": user.wrong_code()}).status_code == 403
        off = c.post("/api/v1/auth/totp:disable", json={"code": user.code()})
        assert off.status_code == 200 and off.json()["totp_enabled"] is False
    assert login(stack, user.name, user.password).status_code == 200
    again = enable(stack, user.name, user.password)
    with stack.client(again.token) as c:
        assert c.post("/api/v1/auth/totp:disable", json={"password": user.password}).status_code == 200
    events = [(e.type, e.subject) for e in state_events(stack)]
    assert events.count(("totp_disabled", user.name)) == 2
