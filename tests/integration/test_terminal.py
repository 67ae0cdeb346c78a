"""Terminals through the real stack: WebSocket → gateway → gRPC → terminal service → a real PTY
(the host's shell, or `docker exec` into a busybox app's container on the real Docker engine)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin, Subprotocol

from appos.v1 import common_pb2, state_pb2, state_pb2_grpc
from services.common.clients import sync_channel
from tests.harness import Stack, docker_client, free_port, wait_for

# one worker runs this module: its module-scoped stack (and app names) exist once
pytestmark = pytest.mark.xdist_group("terminal")

TIMEOUT = 30.0


class Term:
    """One terminal WebSocket: binary frames are terminal data, text frames JSON control."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.out = bytearray()
        self.messages: list[dict[str, Any]] = []

    def recv(self) -> None:
        frame = self.ws.recv(timeout=TIMEOUT)
        if isinstance(frame, bytes):
            self.out += frame
        else:
            self.messages.append(json.loads(frame))

    def until(self, pattern: bytes) -> re.Match[bytes]:
        """Read until `pattern` (a regex) matches the output so far."""
        while (match := re.search(pattern, self.out)) is None:
            self.recv()
        return match

    def message(self, kind: str) -> dict[str, Any]:
        while not any(m["type"] == kind for m in self.messages):
            self.recv()
        return next(m for m in self.messages if m["type"] == kind)

    def type(self, text: str) -> None:
        self.ws.send(text.encode())

    def run(self, command: str, pattern: bytes) -> re.Match[bytes]:
        self.type(command + "\r")
        return self.until(pattern)


def _url(stack: Stack, **query: str) -> str:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return f"ws://127.0.0.1:{stack.port}/api/v1/terminal/ws?{params}"


def _connect(stack: Stack, token: str = "", origin: str = "", **query: str) -> ClientConnection:
    protocols = [Subprotocol("appos.v1"), Subprotocol(f"bearer.{token}")] if token else None
    return connect(
        _url(stack, **query),
        subprotocols=protocols,
        origin=Origin(origin) if origin else None,
        max_size=None,
    )


@contextlib.contextmanager
def open_term(stack: Stack, token: str, **query: str) -> Iterator[tuple[Term, dict[str, Any]]]:
    with _connect(stack, token, **query) as ws:
        term = Term(ws)
        yield term, term.message("opened")


def refusal(ws: ClientConnection) -> tuple[dict[str, Any], int]:
    """The error message and the close code of a refused terminal."""
    error = json.loads(ws.recv(timeout=TIMEOUT))
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None
    return error, closed.value.rcvd.code


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def _children(pid: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    return {int(p) for p in out.split()}


def _events_after(stack: Stack, seq: int) -> list[common_pb2.Event]:
    channel = sync_channel(stack.run_dir / "state.sock")
    try:
        reply = state_pb2_grpc.StateStub(channel).ListEvents(
            state_pb2.StateListEventsRequest(after_seq=seq, limit=1000), timeout=10
        )
    finally:
        channel.close()
    return list(reply.events)


def _last_seq(stack: Stack) -> int:
    channel = sync_channel(stack.run_dir / "state.sock")
    try:
        reply = state_pb2_grpc.StateStub(channel).ListEvents(
            state_pb2.StateListEventsRequest(after_seq=0, limit=1), timeout=10
        )
    finally:
        channel.close()
    return int(reply.last_seq)


def _terminal_events(stack: Stack, seq: int) -> list[common_pb2.Event]:
    return [e for e in _events_after(stack, seq) if e.type.startswith("terminal_")]


@pytest.fixture(scope="module")
def operator(stack: Stack, admin_token: str) -> tuple[str, str]:
    return stack.make_user(admin_token, "operator")


@pytest.fixture(scope="module")
def viewer(stack: Stack, admin_token: str) -> tuple[str, str]:
    return stack.make_user(admin_token, "viewer")


@pytest.fixture(scope="module")
def web_app(stack: Stack, admin_token: str, busybox_image: str) -> Iterator[tuple[str, str]]:
    """A running busybox-httpd app: (its name, the message its page says)."""
    app, message = f"term{uuid.uuid4().hex[:8]}", f"msg{uuid.uuid4().hex[:8]}"
    _, deployment = stack.deploy(
        admin_token,
        {
            "name": app,
            "template": "busybox-httpd",
            "settings": {"HTTP_PORT": str(free_port()), "MESSAGE": message},
        },
    )
    assert deployment["status"] == "succeeded", deployment
    yield app, message
    stack.act(admin_token, app, "remove", remove_volumes="true")


def _web_container(app: str) -> Any:
    client = docker_client()
    try:
        (container,) = client.containers.list(
            filters={"label": [f"com.docker.compose.project=appos-{app}", "com.docker.compose.service=web"]}
        )
        return container
    finally:
        client.close()


def _container_pids(container: Any) -> dict[str, str]:
    """pid → command of the container's processes, but its healthcheck's (`wget` every second)."""
    top = container.top()
    pid, cmd = top["Titles"].index("PID"), top["Titles"].index("CMD")
    return {row[pid]: row[cmd] for row in top["Processes"] if "wget" not in row[cmd]}


def test_admin_host_shell_runs_a_command_and_is_audited_without_keystrokes(
    stack: Stack, admin_token: str
) -> None:
    seq = _last_seq(stack)
    with connect(_url(stack, target="host")) as ws:  # token in the first message, as browsers do
        ws.send(json.dumps({"token": admin_token}))
        term = Term(ws)
        opened = term.message("opened")
        assert opened["target"] == "host" and opened["reattached"] is False
        assert opened["idle_timeout"] == 15 * 60 and len(opened["session"]) == 32
        term.run("echo keystroke-$((6*7))", rb"keystroke-42\r\n")
        term.type("exit 7\r")
        assert term.message("exit") == {"type": "exit", "code": 7, "signal": 0, "reason": "exited"}
        with pytest.raises(ConnectionClosed) as closed:
            term.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    events = wait_for(
        lambda: len(e := _terminal_events(stack, seq)) == 2 and e, timeout=TIMEOUT, what="audit"
    )
    assert [(e.type, e.subject, e.actor) for e in events] == [
        ("terminal_session_started", "host", "admin"),
        ("terminal_session_ended", "host", "admin"),
    ]
    ended = json.loads(events[1].payload_json)
    assert ended["session"] == opened["session"] and ended["reason"] == "exited" and ended["exit_code"] == 7
    assert "keystroke" not in repr(events) and "echo" not in repr(events)


def test_stty_size_follows_a_resize(stack: Stack, admin_token: str) -> None:
    with open_term(stack, admin_token, target="host", cols="100", rows="30") as (term, _):
        term.run("stty size", rb"[\r\n]30 100\r\n")
        term.ws.send(json.dumps({"type": "resize", "cols": 132, "rows": 50}))
        term.run("stty size", rb"[\r\n]50 132\r\n")


def test_ten_megabytes_of_output_arrive_complete(stack: Stack, admin_token: str, tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(subprocess.run(["head", "-c", "10000000", "/dev/urandom"], capture_output=True).stdout)
    with open_term(stack, admin_token, target="host") as (term, _):
        # the markers hold a '-', which base64 never does
        term.type(f"echo BEGIN-$((1+1)); base64 {blob}; echo END-$((1+1))\r")
        term.until(rb"END-2\r\n")
        body = term.out[term.out.index(b"BEGIN-2\r\n") + 9 : term.out.rindex(b"END-2")]
    data = base64.b64decode(bytes(body).replace(b"\r", b"").replace(b"\n", b""), validate=True)
    assert len(data) == 10_000_000
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(blob.read_bytes()).hexdigest()


def test_closing_the_websocket_ends_the_shell_and_its_children(stack: Stack, admin_token: str) -> None:
    with open_term(stack, admin_token, target="host") as (term, _):
        match = term.run("sleep 3331 & echo PIDS:$$:$!:; sleep 3332", rb"PIDS:(\d+):(\d+):")
        shell, background = int(match.group(1)), int(match.group(2))
        foreground = wait_for(lambda: _children(shell) - {background}, timeout=TIMEOUT, what="sleep 3332")
        assert all(_alive(pid) for pid in (shell, background, *foreground))
    # closed with 1000: the session ends, with every process it started
    for pid in (shell, background, *foreground):
        wait_for(lambda pid=pid: not _alive(pid), timeout=TIMEOUT, what=f"pid {pid} to end")


def test_idle_timeout_ends_a_session(stack: Stack, admin_token: str) -> None:
    with open_term(stack, admin_token, target="host", idle_timeout="1") as (term, opened):
        assert opened["idle_timeout"] == 1
        shell = int(term.run("echo PID:$$:", rb"PID:(\d+):").group(1))
        assert term.message("exit")["reason"] == "idle_timeout"
    wait_for(lambda: not _alive(shell), timeout=TIMEOUT, what="the idle shell to end")


def test_reattach_within_the_grace_period_replays_the_scrollback(
    stack: Stack, admin_token: str, operator: tuple[str, str]
) -> None:
    with open_term(stack, admin_token, target="host") as (term, opened):
        shell = int(term.run("echo SCROLL-$((40+2)) PID:$$:", rb"PID:(\d+):").group(1))
        term.ws.socket.shutdown(socket.SHUT_RDWR)  # the connection drops: no close frame
    assert _alive(shell)
    # nobody else may take it
    with _connect(stack, operator[1], session=opened["session"]) as ws:
        error, code = refusal(ws)
    assert code == 4404 and error["code"] == "not_found"
    with open_term(stack, admin_token, session=opened["session"]) as (again, reopened):
        assert reopened["reattached"] is True and reopened["session"] == opened["session"]
        again.until(rb"SCROLL-42 PID:\d+:")  # replayed from the scrollback
        again.run("echo AGAIN-$((1+2)) PID:$$:", rf"AGAIN-3 PID:{shell}:".encode())
    wait_for(lambda: not _alive(shell), timeout=TIMEOUT, what="the shell to end")


def test_operator_gets_403_for_the_host_and_nothing_starts(stack: Stack, operator: tuple[str, str]) -> None:
    terminal = stack.pid_of("terminal")
    before, seq = _children(terminal), _last_seq(stack)
    with _connect(stack, operator[1], target="host") as ws:
        error, code = refusal(ws)
    assert code == 4403 and error["code"] == "permission_denied"
    assert "admin" in error["message"]
    assert not _children(terminal) - before
    assert _terminal_events(stack, seq) == []


def test_viewer_gets_403_for_an_app_shell(stack: Stack, viewer: tuple[str, str]) -> None:
    with _connect(stack, viewer[1], target="app:whatever/web") as ws:
        error, code = refusal(ws)
    assert code == 4403 and error["code"] == "permission_denied"


@pytest.mark.parametrize(
    "first", [{}, {"token": ""}, {"token": "garbage"}, {"token": "appos_" + "x" * 40}, ["token"]]
)
def test_no_or_a_bad_token_is_refused_before_any_process_starts(stack: Stack, first: Any) -> None:
    terminal = stack.pid_of("terminal")
    before, seq = _children(terminal), _last_seq(stack)
    with connect(_url(stack, target="host")) as ws:
        ws.send(json.dumps(first))
        error, code = refusal(ws)
    assert code == 4401 and error["code"] == "unauthenticated"
    with _connect(stack, "not-a-token", target="host") as ws:  # in the header
        _, code = refusal(ws)
    assert code == 4401
    assert not _children(terminal) - before
    assert _terminal_events(stack, seq) == []


def test_cross_origin_terminal_is_refused_at_the_handshake(stack: Stack, admin_token: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        _connect(stack, admin_token, origin="http://evil.example", target="host")
    assert refused.value.response.status_code == 403


def test_bad_targets_are_refused(stack: Stack, admin_token: str) -> None:
    for target in ("hostx", "app:Bad/web", "app:x/$(id)"):
        with _connect(stack, admin_token, target=target) as ws:
            error, code = refusal(ws)
        assert code == 4400 and error["code"] == "invalid_argument", target


def test_app_shell_runs_inside_the_container_and_closing_ends_it(
    stack: Stack, operator: tuple[str, str], web_app: tuple[str, str]
) -> None:
    app, message = web_app
    container = _web_container(app)
    hostname = container.attrs["Config"]["Hostname"]
    baseline = _container_pids(container)
    seq = _last_seq(stack)
    with open_term(stack, operator[1], target=f"app:{app}/web", cols="90", rows="20") as (term, opened):
        assert opened["target"] == f"app:{app}/web"
        term.run(
            "echo IN-$(cat /www/index.html)-$(hostname)-$((1+1))", rf"IN-{message}-{hostname}-2".encode()
        )
        term.run("stty size", rb"[\r\n]20 90\r\n")
        term.type("sleep 4441 & sleep 4442\r")
        wait_for(
            lambda: {"sleep 4441", "sleep 4442"} <= set(_container_pids(container).values()),
            timeout=TIMEOUT,
            what="the sleeps in the container",
        )
    # the shell and both sleeps were inside the container; closing ends them all there
    wait_for(
        lambda: _container_pids(container) == baseline, timeout=TIMEOUT, what="the container's own processes"
    )
    events = wait_for(
        lambda: len(e := _terminal_events(stack, seq)) == 2 and e, timeout=TIMEOUT, what="audit"
    )
    assert [(e.type, e.subject, e.actor) for e in events] == [
        ("terminal_session_started", f"app:{app}/web", operator[0]),
        ("terminal_session_ended", f"app:{app}/web", operator[0]),
    ]
    assert json.loads(events[1].payload_json)["reason"] == "closed"


def test_unknown_app_or_service_is_a_clear_error(
    stack: Stack, operator: tuple[str, str], web_app: tuple[str, str]
) -> None:
    with _connect(stack, operator[1], target="app:nosuchapp/web") as ws:
        error, code = refusal(ws)
    assert code == 4404 and error["message"] == "app 'nosuchapp' does not exist"
    with _connect(stack, operator[1], target=f"app:{web_app[0]}/nosuch") as ws:
        error, code = refusal(ws)
    assert code == 4404 and error["message"] == f"app {web_app[0]!r} has no service 'nosuch' (services: web)"


def test_an_app_shell_closed_at_once_leaves_nothing_in_the_container(
    stack: Stack, operator: tuple[str, str], web_app: tuple[str, str]
) -> None:
    # the exec starts a moment after the local `docker exec`: ending the session in that moment must
    # still find it
    container = _web_container(web_app[0])
    baseline = _container_pids(container)
    for _ in range(3):
        with open_term(stack, operator[1], target=f"app:{web_app[0]}/web") as (term, _):
            term.type("sleep 4443 & sleep 4444\r")
    wait_for(
        lambda: _container_pids(container) == baseline, timeout=TIMEOUT, what="the container's own processes"
    )
