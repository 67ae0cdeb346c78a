"""Sessions on real PTYs (no server): output, audit, limits, idle timeout, grace period, reattach
with scrollback, flow control, and the end of every process a session started."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.common.errors import NotFound, PermissionDenied, RateLimited
from services.terminal import processes
from services.terminal.registry import ENDED, STARTED, Limits, Registry
from services.terminal.sessions import Attachment, Detached, Exit, Session
from services.terminal.spawn import Spawner
from services.terminal.targets import parse_target
from tests.harness import wait_for

HOST = parse_target("host")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """The audit sink: what would be appended to the event log."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, dict[str, Any]]] = []

    def __call__(self, kind: str, subject: str, actor: str, payload: dict[str, Any]) -> None:
        self.events.append((kind, subject, actor, payload))


def _no_docker() -> Any:
    raise AssertionError("host sessions never ask Docker")


def _no_app(app: str) -> str:
    raise AssertionError("host sessions never look up apps")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def audit() -> Recorder:
    return Recorder()


def make_registry(clock: Clock, audit: Recorder, **limits: Any) -> Registry:
    spawner = Spawner(docker_factory=_no_docker, check_app=_no_app, docker_host="", host_shell=["/bin/sh"])
    return Registry(spawner=spawner, audit=audit, limits=Limits(**limits), clock=clock)


@pytest.fixture
def registry(clock: Clock, audit: Recorder) -> Iterator[Registry]:
    made = make_registry(clock, audit, scrollback_bytes=64 * 1024, grace=30, idle_timeout=600)
    yield made
    made.shutdown()


def read_until(
    session: Session, attachment: Attachment, needle: bytes
) -> tuple[bytes, Exit | Detached | None]:
    """Output until the regex `needle` matches (or the session's exit, or being displaced)."""
    got = bytearray()
    for item in session.output(attachment):
        if not isinstance(item, bytes):
            return bytes(got), item
        got += item
        if needle and re.search(needle, got):
            return bytes(got), None
    return bytes(got), None


def run(session: Session, attachment: Attachment, command: str, needle: bytes) -> bytes:
    session.write(command.encode() + b"\n", attachment)
    out, end = read_until(session, attachment, needle)
    assert end is None, (out, end)
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def test_a_session_runs_commands_and_is_audited_without_keystrokes(
    registry: Registry, audit: Recorder
) -> None:
    session, attachment = registry.open(user="alice", role="admin", target=HOST, cols=100, rows=30)
    out = run(session, attachment, "echo secret-$((6*7)); stty size", rb"30 100")
    assert b"secret-42" in out
    session.write(b"exit 3\n", attachment)
    _, end = read_until(session, attachment, b"")
    assert end == Exit(code=3, signal=0, reason="exited")
    assert [e[:3] for e in audit.events] == [(STARTED, "host", "alice"), (ENDED, "host", "alice")]
    assert audit.events[1][3]["session"] == session.id and audit.events[1][3]["exit_code"] == 3
    assert "secret" not in repr(audit.events) and "echo" not in repr(audit.events)


def test_a_role_too_low_is_refused_before_anything_starts(registry: Registry, audit: Recorder) -> None:
    with pytest.raises(PermissionDenied):
        registry.open(user="olga", role="operator", target=HOST, cols=80, rows=24)
    assert audit.events == [] and registry.live() == []


def test_no_audit_no_session(clock: Clock) -> None:
    def failing(kind: str, subject: str, actor: str, payload: dict[str, Any]) -> None:
        from services.common.errors import Unavailable

        raise Unavailable("the state service is unavailable")

    spawner = Spawner(docker_factory=_no_docker, check_app=_no_app, docker_host="", host_shell=["/bin/sh"])
    registry = Registry(spawner=spawner, audit=failing, limits=Limits(), clock=clock)
    with pytest.raises(Exception, match="state service is unavailable"):
        registry.open(user="alice", role="admin", target=HOST, cols=80, rows=24)
    assert registry.live() == []


def test_per_user_limit(clock: Clock, audit: Recorder) -> None:
    registry = make_registry(clock, audit, sessions_per_user=2)
    try:
        first, a1 = registry.open(user="alice", role="admin", target=HOST, cols=80, rows=24)
        registry.open(user="alice", role="admin", target=HOST, cols=80, rows=24)
        with pytest.raises(RateLimited, match="limit is 2"):
            registry.open(user="alice", role="admin", target=HOST, cols=80, rows=24)
        registry.open(user="bob", role="admin", target=HOST, cols=80, rows=24)  # others are not affected
        first.write(b"exit\n", a1)
        read_until(first, a1, b"")
        registry.open(user="alice", role="admin", target=HOST, cols=80, rows=24)  # a slot came free
    finally:
        registry.shutdown()


def test_ending_a_session_ends_its_background_and_foreground_jobs(registry: Registry) -> None:
    session, attachment = registry.open(user="alice", role="admin", target=HOST, cols=80, rows=24)
    # an interactive shell puts `sleep &` in a process group of its own: the whole session must go
    out = run(session, attachment, "sleep 3001 & echo PIDS:$$:$!:; sleep 3002", rb"PIDS:\d+:\d+:")
    shell, background = map(int, re.findall(rb"PIDS:(\d+):(\d+):\r\n", out)[0])
    assert shell == session.pid
    foreground = wait_for(
        lambda: [p for p in processes.session_members([shell]) if p not in (shell, background)],
        timeout=10,
        what="the foreground sleep",
    )
    assert os.getpgid(background) != os.getpgid(shell)
    session.terminate("closed")
    _, end = read_until(session, attachment, b"")
    assert end is not None and isinstance(end, Exit) and end.reason == "closed"
    for pid in (shell, background, *foreground):
        assert not alive(pid), pid


def test_background_jobs_end_with_the_shell(registry: Registry) -> None:
    session, attachment = registry.open(user="alice", role="admin", target=HOST, cols=80, rows=24)
    out = run(session, attachment, "sleep 3003 & echo BG:$!:", rb"BG:\d+:")
    background = int(re.findall(rb"BG:(\d+):\r\n", out)[0])
    session.write(b"exit\n", attachment)
    _, end = read_until(session, attachment, b"")
    assert isinstance(end, Exit) and end.reason == "exited"
    assert not alive(background)


def test_idle_timeout(registry: Registry, clock: Clock) -> None:
    session, attachment = registry.open(
        user="alice", role="admin", target=HOST, cols=80, rows=24, idle_timeout=5
    )
    assert session.idle_timeout == 5
    long, _ = registry.open(user="alice", role="admin", target=HOST, cols=80, rows=24, idle_timeout=10**6)
    assert long.idle_timeout == registry.limits.idle_timeout  # a client may only shorten it
    clock.now += 4
    registry.reap()
    session.write(b"echo still-here\n", attachment)  # typing resets it
    clock.now += 4
    registry.reap()
    assert session.exit is None
    clock.now += 2
    registry.reap()
    _, end = read_until(session, attachment, b"")
    assert isinstance(end, Exit) and end.reason == "idle_timeout"
    assert not alive(session.pid)


def test_maximum_lifetime_ends_even_a_busy_session(clock: Clock, audit: Recorder) -> None:
    registry = make_registry(clock, audit, idle_timeout=600, max_lifetime=30)
    try:
        session, attachment = registry.open(user="alice", role="admin", target=HOST, cols=80, rows=24)
        for _ in range(3):  # typing keeps it from idling, not from its hard limit
            clock.now += 10
            session.write(b"echo busy\n", attachment)
            registry.reap()
        assert session.exit is None
        clock.now += 1
        registry.reap()
        _, end = read_until(session, attachment, b"")
        assert isinstance(end, Exit) and end.reason == "max_lifetime"
        wait_for(lambda: audit.events[-1][0] == ENDED, timeout=10, what="the end's audit entry")
        assert audit.events[-1][3]["reason"] == "max_lifetime"
        assert not alive(session.pid)
    finally:
        registry.shutdown()


def test_reattach_within_the_grace_period_replays_the_scrollback(registry: Registry, clock: Clock) -> None:
    session, attachment = registry.open(user="alice", role="admin", target=HOST, cols=80, rows=24)
    run(session, attachment, "echo before-$((1+1))", rb"before-2")
    session.detach(attachment)  # the connection dropped
    session.write(b"echo lost\n", attachment)  # a detached connection cannot type any more
    clock.now += 20
    registry.reap()
    with pytest.raises(NotFound):
        registry.attach(session_id=session.id, user="mallory", role="admin", cols=80, rows=24)
    again, second = registry.attach(session_id=session.id, user="alice", role="admin", cols=80, rows=24)
    assert again is session
    replay, _ = read_until(session, second, rb"before-2")
    assert b"echo before-$((1+1))" in replay  # from the start of the session's output
    assert b"lost" not in replay
    run(session, second, "echo after-$((2+2))", rb"after-4")


def test_a_detached_session_ends_after_the_grace_period(
    registry: Registry, clock: Clock, audit: Recorder
) -> None:
    session, attachment = registry.open(user="alice", role="admin", target=HOST, cols=80, rows=24)
    session.detach(attachment)
    clock.now += 31
    registry.reap()
    assert session.ended.wait(10)
    assert session.exit is not None and session.exit.reason == "detached_timeout"
    assert audit.events[-1][3]["reason"] == "detached_timeout"
    registry.reap()
    assert registry.get(session.id) is None


def test_a_second_connection_displaces_the_first(registry: Registry) -> None:
    session, first = registry.open(user="alice", role="admin", target=HOST, cols=80, rows=24)
    _, second = registry.attach(session_id=session.id, user="alice", role="admin", cols=80, rows=24)
    _, end = read_until(session, first, b"never")
    assert isinstance(end, Detached)
    run(session, second, "echo mine", rb"mine\r\n")


def test_a_slow_reader_gets_every_byte_through_a_small_scrollback(registry: Registry, tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(3 * 1024 * 1024))  # 4 MB of base64: 64 scrollbacks
    session, attachment = registry.open(user="alice", role="admin", target=HOST, cols=80, rows=24)
    # the markers hold a '-', which base64 never does
    command = f"echo BEGIN-$((1+1)); base64 {blob}; echo END-$((1+1))\n"
    session.write(command.encode(), attachment)
    got = bytearray()
    for item in session.output(attachment):
        assert isinstance(item, bytes)
        got += item
        if b"END-2\r\n" in got[-64:]:
            break
        time.sleep(0.005)  # slower than the shell: the reader must wait rather than drop output
    out = bytes(got)
    body = out[out.index(b"BEGIN-2") + len(b"BEGIN-2") : out.rindex(b"END-2")]
    decoded = base64.b64decode(body.replace(b"\r", b"").replace(b"\n", b""))
    assert hashlib.sha256(decoded).digest() == hashlib.sha256(blob.read_bytes()).digest()


def test_shutdown_ends_every_session(clock: Clock, audit: Recorder) -> None:
    registry = make_registry(clock, audit)
    sessions = [registry.open(user=u, role="admin", target=HOST, cols=80, rows=24)[0] for u in ("a", "b")]
    registry.shutdown()
    assert all(s.exit is not None and s.exit.reason == "shutdown" for s in sessions)
    assert not any(alive(s.pid) for s in sessions)


def test_end_sessions_escalates_to_sigkill(tmp_path: Path) -> None:
    # a process that ignores SIGHUP and SIGTERM, in a session of its own
    proc = subprocess.Popen(["sh", "-c", "trap '' HUP TERM; sleep 3004 & wait"], start_new_session=True)
    try:
        members = wait_for(
            lambda: len(processes.session_members([proc.pid])) == 2 and processes.session_members([proc.pid]),
            timeout=10,
            what="members",
        )
        left = processes.end_sessions(lambda: [proc.pid], grace=0.3)
        assert left == []
        assert proc.wait(10) == -signal.SIGKILL
        assert not any(alive(p) for p in members)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
