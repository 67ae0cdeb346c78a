"""Open streams end when the access that opened them ends (issue 16): a revoked API token, a
disabled user, a demoted one, a changed password, a sign-out and a rotated signing key each end,
within a few seconds and saying why, an open host terminal (WebSocket close 4401/4403 after an
`error` message, and the shell itself ends), the events WebSocket, the events SSE stream (a last
`error` event), a REST log follow (a last NDJSON error object) and a log follow on the public gRPC
port (UNAUTHENTICATED / PERMISSION_DENIED). A terminal also ends at its maximum lifetime.

A stack of this module's own: rotating the signing key ends every login's session."""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from appos.v1 import apps_pb2, apps_pb2_grpc, state_pb2, state_pb2_grpc
from services.common.clients import sync_channel
from tests.harness import Stack, start_stack, wait_for

pytestmark = pytest.mark.xdist_group("streams_end")

# How long each stream may take to end after the access ended (the gateway re-checks every second).
BOUND = 15.0


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("streams-end"))
    yield running
    running.stop()


def _admin(stack: Stack) -> str:
    return stack.login()  # a fresh login each time: a key rotation ends the previous ones


@pytest.fixture(scope="module")
def chatty_app(own_stack: Stack, busybox_image: str) -> Iterator[str]:
    app = f"chat{uuid.uuid4().hex[:8]}"
    _, deployment = own_stack.deploy(_admin(own_stack), {"name": app, "template": "busybox-chatty"})
    assert deployment["status"] == "succeeded", deployment
    yield app
    own_stack.act(_admin(own_stack), app, "remove")


@dataclass
class User:
    name: str
    password: str
    token: str  # a login's access token, or an API token


def _user(stack: Stack, *, api_token: bool = False) -> User:
    name, password = f"ada{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with stack.client(_admin(stack)) as c:
        r = c.post("/api/v1/users", json={"username": name, "password": password, "role": "admin"})
    assert r.status_code == 200, r.text
    token = stack.login(name, password)
    if api_token:
        with stack.client(token) as c:
            r = c.post("/api/v1/tokens", json={"name": "streams", "role": "admin"})
        assert r.status_code == 200, r.text
        token = r.json()["secret"]
    return User(name=name, password=password, token=token)


def _ws(stack: Stack, path: str, token: str) -> ClientConnection:
    protocols = [Subprotocol("appos.v1"), Subprotocol(f"bearer.{token}")]
    return connect(f"ws://127.0.0.1:{stack.port}{path}", subprotocols=protocols, max_size=None)


def _until(deadline: float, what: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise AssertionError(f"{what} did not end within {BOUND}s of the access ending")
    return left


class Streams:
    """One of each kind of stream, opened with one credential."""

    def __init__(self, stack: Stack, token: str, app: str) -> None:
        self.stack, self.token, self.app = stack, token, app
        self._held = contextlib.ExitStack()

    def __enter__(self) -> Streams:
        held, stack, token = self._held, self.stack, self.token
        self.terminal = held.enter_context(_ws(stack, "/api/v1/terminal/ws?target=host", token))
        opened = self._terminal_message("opened")
        self.session = opened["session"]
        self.terminal.send(b"echo PID:$$:\r")
        self.shell = int(self._terminal_output(rb"PID:(\d+):").group(1))
        self.events_ws = held.enter_context(_ws(stack, "/api/v1/events/ws", token))
        assert json.loads(self.events_ws.recv(timeout=BOUND))["type"] == "hello"
        client = held.enter_context(
            httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {token}"}, timeout=BOUND)
        )
        self.sse = held.enter_context(client.stream("GET", "/api/v1/events"))
        assert self.sse.status_code == 200
        self.sse_lines = self.sse.iter_lines()
        self.logs = held.enter_context(
            client.stream("GET", f"/api/v1/apps/{self.app}/logs", params={"follow": "true", "tail": "1"})
        )
        assert self.logs.status_code == 200
        self.log_lines = self.logs.iter_lines()
        assert json.loads(next(self.log_lines))["line"].startswith("line-")
        channel = held.enter_context(
            contextlib.closing(grpc.insecure_channel(f"127.0.0.1:{_grpc_port(stack)}"))
        )
        self.grpc_logs = apps_pb2_grpc.AppsStub(channel).GetAppLogs(
            apps_pb2.GetAppLogsRequest(app=self.app, follow=True, tail=1),
            metadata=(("authorization", f"Bearer {token}"),),
            timeout=120,
        )
        held.callback(self.grpc_logs.cancel)
        assert next(self.grpc_logs).line.startswith("line-")
        return self

    def __exit__(self, *exc: object) -> None:
        self._held.close()

    # reading

    def _terminal_message(self, kind: str) -> dict[str, Any]:
        while True:
            frame = self.terminal.recv(timeout=BOUND)
            if isinstance(frame, str) and (message := json.loads(frame))["type"] == kind:
                return dict(message)

    def _terminal_output(self, pattern: bytes) -> re.Match[bytes]:
        out = b""
        while (match := re.search(pattern, out)) is None:
            frame = self.terminal.recv(timeout=BOUND)
            out += frame if isinstance(frame, bytes) else b""
        return match

    @staticmethod
    def _ws_end(ws: ClientConnection, deadline: float, what: str) -> tuple[dict[str, Any], int, str]:
        """The last JSON message before the close, the close code and reason."""
        last: dict[str, Any] = {}
        try:
            while True:
                frame = ws.recv(timeout=_until(deadline, what))
                if isinstance(frame, str):
                    last = json.loads(frame)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, what
            return last, closed.rcvd.code, closed.rcvd.reason

    def ended(self, *, code: int, why: str) -> None:
        """Every stream ends within BOUND seconds, each saying `why` (a piece of the message)."""
        deadline = time.monotonic() + BOUND
        status = {4401: "unauthenticated", 4403: "permission_denied"}[code]

        last, close, reason = self._ws_end(self.terminal, deadline, "the terminal")
        assert (close, last["type"], last["code"]) == (code, "error", status), (close, last)
        assert why in last["message"] and why[:40] in reason, (last, reason)

        last, close, reason = self._ws_end(self.events_ws, deadline, "the events WebSocket")
        assert (close, last.get("type"), last.get("code")) == (code, "error", status), (close, last)
        assert why in last["message"], last

        event = ""
        for line in self.sse_lines:
            _until(deadline, "the SSE stream")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "error":
                error = json.loads(line[6:])
                assert error["code"] == status and why in error["message"] and error["request_id"], error
                break
        else:
            raise AssertionError("the SSE stream ended without an error event")
        assert [line for line in self.sse_lines if line] == []  # and then it ends

        for line in self.log_lines:
            _until(deadline, "the log follow")
            item = json.loads(line)
            if "code" in item:
                assert item["code"] == status and why in item["message"] and item["request_id"], item
                break
        else:
            raise AssertionError("the log follow ended without an error object")
        assert [line for line in self.log_lines if line] == []

        grpc_code = {4401: grpc.StatusCode.UNAUTHENTICATED, 4403: grpc.StatusCode.PERMISSION_DENIED}[code]
        with pytest.raises(grpc.RpcError) as failed:
            for _ in self.grpc_logs:
                _until(deadline, "the gRPC log follow")
        assert failed.value.code() == grpc_code and why in (failed.value.details() or "")

        # the terminal session itself ended, with every process in it, and says why in the audit
        wait_for(lambda: not _alive(self.shell), timeout=BOUND, what="the shell to end")
        ended = wait_for(
            lambda: _session_end(self.stack, self.session), timeout=BOUND, what="terminal_session_ended"
        )
        assert ended["reason"] == "access_ended", ended


def _grpc_port(stack: Stack) -> int:
    return int(stack.env["APPOS_GRPC_PORT"])


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def _session_end(stack: Stack, session: str) -> dict[str, Any] | None:
    channel = sync_channel(stack.run_dir / "state.sock")
    try:
        reply = state_pb2_grpc.StateStub(channel).ListEvents(
            state_pb2.StateListEventsRequest(after_seq=0, limit=100000), timeout=10
        )
    finally:
        channel.close()
    for event in reply.events:
        payload = json.loads(event.payload_json or "{}")
        if event.type == "terminal_session_ended" and payload.get("session") == session:
            return dict(payload)
    return None


def _revoke(stack: Stack, user: User) -> None:
    with stack.client(_admin(stack)) as c:
        tokens = c.get("/api/v1/tokens", params={"all_users": "true"}).json()["tokens"]
        (token,) = [t for t in tokens if t["username"] == user.name]
        assert c.delete(f"/api/v1/tokens/{token['id']}").status_code == 200


def _patch(stack: Stack, user: User, change: dict[str, Any]) -> None:
    with stack.client(_admin(stack)) as c:
        r = c.patch(f"/api/v1/users/{user.name}", json=change)
    assert r.status_code == 200, r.text


def _new_password(stack: Stack, user: User) -> None:
    with stack.client(user.token) as c:
        r = c.post(
            "/api/v1/auth/password",
            json={"current_password": user.password, "new_password": uuid.uuid4().hex},
        )
    assert r.status_code == 200, r.text


def _logout(stack: Stack, user: User) -> None:
    with stack.client(user.token) as c:
        assert c.post("/api/v1/auth/logout", json={}).status_code == 200


def _rotate(stack: Stack, user: User) -> None:
    with stack.client(_admin(stack)) as c:
        assert c.post("/api/v1/system/rotate-signing-key", json={}).status_code == 200


Trigger = Callable[[Stack, User], None]

CASES: list[tuple[str, bool, Trigger, str]] = [
    ("revoked API token", True, _revoke, "invalid, expired or revoked token"),
    ("disabled user", False, lambda s, u: _patch(s, u, {"disabled": True}), "the account has been disabled"),
    (
        "demoted to viewer",
        False,
        lambda s, u: _patch(s, u, {"role": "viewer"}),
        "role changed from admin to viewer",
    ),
    ("password changed", False, _new_password, "the account changed (a new password"),
    ("signed out", False, _logout, "signed out"),
    ("signing key rotated", False, _rotate, "the signing key may have changed"),
]


@pytest.mark.parametrize(("what", "api_token", "trigger", "why"), CASES, ids=[c[0] for c in CASES])
def test_ending_access_ends_every_open_stream_and_terminal_saying_why(
    own_stack: Stack, chatty_app: str, what: str, api_token: bool, trigger: Trigger, why: str
) -> None:
    user = _user(own_stack, api_token=api_token)
    with Streams(own_stack, user.token, chatty_app) as streams:
        trigger(own_stack, user)
        streams.ended(code=4401, why=why)


def test_an_api_token_whose_owner_is_demoted_loses_its_host_terminal_with_403(
    own_stack: Stack, chatty_app: str
) -> None:
    # an API token stays valid when its owner is demoted, with the owner's new role: what needs more
    # (the host shell), or was opened with more (admin's events), ends with 403
    user = _user(own_stack, api_token=True)
    with Streams(own_stack, user.token, chatty_app) as streams:
        _patch(own_stack, user, {"role": "viewer"})
        streams.ended(code=4403, why="role")
    with own_stack.client(user.token) as c:  # the token itself still works, as a viewer
        assert c.get("/api/v1/apps").status_code == 200


@pytest.mark.parametrize(
    ("trigger", "why"), [(_logout, "signed out"), (_revoke, "revoked")], ids=["logout", "revoke"]
)
def test_a_detached_terminal_ends_when_its_access_ends(own_stack: Stack, trigger: Trigger, why: str) -> None:
    """The connection dropped (not a normal close): the session waits for its grace period to be
    attached again, but ends within seconds when the access that opened it ends."""
    user = _user(own_stack, api_token=_revoke is trigger)
    with _ws(own_stack, "/api/v1/terminal/ws?target=host", user.token) as ws:
        opened = json.loads(ws.recv(timeout=BOUND))
        assert opened["type"] == "opened" and opened["grace"] > 30
        session = opened["session"]
        ws.send(b"echo PID:$$:\r")
        out = b""
        while (match := re.search(rb"PID:(\d+):", out)) is None:
            frame = ws.recv(timeout=BOUND)
            out += frame if isinstance(frame, bytes) else b""
        shell = int(match.group(1))
        ws.close(code=4000)  # gone without ending it: detached
    assert _alive(shell) and _session_end(own_stack, session) is None
    trigger(own_stack, user)
    ended = wait_for(lambda: _session_end(own_stack, session), timeout=BOUND, what=f"{session} ended ({why})")
    assert ended["reason"] == "access_ended", ended
    wait_for(lambda: not _alive(shell), timeout=BOUND, what="the shell ended")


def test_the_owner_reattaches_a_detached_terminal_at_the_stream_limit(
    tmp_path: Path, docker_engine: None
) -> None:
    """The detached session's lease goes back when its owner attaches again: one stream allowed,
    one terminal, reattached (it was 4429 while the detached session still held the place)."""
    stack = start_stack(tmp_path, extra_env={"APPOS_STREAMS_PER_USER": "1"})
    try:
        token = stack.login()
        with _ws(stack, "/api/v1/terminal/ws?target=host", token) as ws:
            session = json.loads(ws.recv(timeout=BOUND))["session"]
            ws.close(code=4000)  # detached
        with _ws(stack, f"/api/v1/terminal/ws?session={session}", token) as ws:
            opened = json.loads(ws.recv(timeout=BOUND))
            assert opened["type"] == "opened" and opened["reattached"], opened
            ws.send(json.dumps({"type": "close"}))
    finally:
        stack.stop()


def test_a_terminal_ends_at_its_maximum_lifetime(tmp_path: Path, docker_engine: None) -> None:
    stack = start_stack(tmp_path, extra_env={"APPOS_TERMINAL_MAX_SECONDS": "2"})
    try:
        with _ws(stack, "/api/v1/terminal/ws?target=host", stack.login()) as ws:
            messages: list[dict[str, Any]] = []
            with pytest.raises(ConnectionClosed) as closed:
                while True:  # typing does not keep it alive past its maximum
                    frame = ws.recv(timeout=BOUND)
                    if isinstance(frame, str):
                        messages.append(json.loads(frame))
                        if messages[-1]["type"] == "opened":
                            ws.send(b"while :; do echo busy; sleep 0.2; done\r")
        assert messages[0]["type"] == "opened" and messages[0]["max_seconds"] == 2
        assert messages[-1]["type"] == "exit" and messages[-1]["reason"] == "max_lifetime", messages[-1]
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    finally:
        stack.stop()
