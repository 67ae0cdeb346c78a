"""Terminal sessions and their registry.

A session is one process in a PTY, a reader thread that copies its output into a bounded
scrollback, and at most one attached connection that reads from there at its own offset. The
reader waits while the attached connection is a whole scrollback behind (flow control reaches the
shell the way it does over ssh); with nobody attached it keeps reading, dropping the oldest output.

A connection that goes away without closing the session detaches it; within the grace period the
same user may attach again and gets the scrollback replayed, then live output. A session ends when
its shell exits, when its client closes it, when nobody typed for the idle timeout, when it stayed
detached past the grace period, or when the service stops. Ending it ends every process it started
(`processes.end_sessions`). Starting and ending are audited (who, target, when, why) — never what was
typed or shown.
"""

from __future__ import annotations

import logging
import os
import secrets
import select
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from services.common.errors import AppOSError, NotFound, RateLimited
from services.common.timestamps import now_us
from services.terminal import processes
from services.terminal.scrollback import Scrollback
from services.terminal.spawn import Spawned, Spawner
from services.terminal.targets import Target, check_role

logger = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
# Largest data message to a connection; a slow reader gets output in chunks this large.
CHUNK = 64 * 1024
MAX_SIZE = 1000  # columns or rows

Audit = Callable[[str, str, str, dict[str, Any]], None]  # (event type, subject, actor, payload)
STARTED = "terminal_session_started"
ENDED = "terminal_session_ended"


@dataclass(frozen=True)
class Exit:
    code: int  # -1 when a signal ended the first process
    signal: int
    reason: str


@dataclass(frozen=True)
class Detached:
    reason: str


class Attachment:
    """One connection's place in a session's output."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.active = True
        self.displaced = False


def _size(cols: int, rows: int) -> tuple[int, int]:
    return max(1, min(cols or 80, MAX_SIZE)), max(1, min(rows or 24, MAX_SIZE))


class Session:
    def __init__(
        self,
        *,
        session_id: str,
        user: str,
        target: Target,
        spawned: Spawned,
        scrollback_bytes: int,
        idle_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.id = session_id
        self.user = user
        self.target = target
        self.idle_timeout = idle_timeout
        self.started_us = now_us()
        self._spawned = spawned
        self._process = spawned.process
        self._clock = clock
        self._ring = Scrollback(scrollback_bytes)
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._attachment: Attachment | None = None
        self.last_input = clock()
        self.detached_at: float | None = clock()
        self.exit: Exit | None = None
        self.exit_delivered = False
        self._end_reason = ""
        self.ended = threading.Event()

    @property
    def pid(self) -> int:
        return int(self._process.pid)

    def start(self, on_end: Callable[[Session], None]) -> None:
        threading.Thread(target=self._run, args=(on_end,), name=f"pty-{self.id[:8]}", daemon=True).start()

    # connections

    def attach(self, cols: int = 0, rows: int = 0) -> Attachment:
        """Attach a connection; one already attached is displaced (it gets `Detached`)."""
        with self._cond:
            if self._attachment is not None:
                self._attachment.active = False
                self._attachment.displaced = True
            attachment = Attachment(self._ring.start)
            self._attachment = attachment
            self.detached_at = None
            self.last_input = self._clock()
            self._cond.notify_all()
        if cols and rows:
            self.resize(cols, rows)
        return attachment

    def detach(self, attachment: Attachment) -> None:
        with self._cond:
            attachment.active = False
            if self._attachment is attachment:
                self._attachment = None
                self.detached_at = self._clock()
            self._cond.notify_all()

    def output(self, attachment: Attachment) -> Iterator[bytes | Exit | Detached]:
        """What this connection should send: data (from its offset on), then the exit, or
        `Detached` when another connection took the session. Ends when it is detached."""
        while True:
            chunk: bytes = b""
            final: Exit | Detached | None = None
            with self._cond:
                while attachment.active and attachment.offset >= self._ring.total and self.exit is None:
                    self._cond.wait(5.0)
                if not attachment.active:
                    if attachment.displaced:
                        final = Detached("another connection attached to this session")
                elif attachment.offset < self._ring.total:
                    chunk, attachment.offset = self._ring.read(attachment.offset, CHUNK)
                    self._cond.notify_all()  # the reader may be waiting for room
                else:
                    final = self.exit
                    self.exit_delivered = True
            if chunk:
                yield chunk
                continue
            if final is not None:
                yield final
            return

    # input

    def write(self, data: bytes, attachment: Attachment) -> None:
        if not attachment.active or self.exit is not None:
            return
        self.last_input = self._clock()
        view = memoryview(data)
        with self._write_lock:
            while view:
                try:
                    written = os.write(self._process.fd, view)
                except OSError:
                    return  # the session is ending
                view = view[written:]

    def resize(self, cols: int, rows: int) -> None:
        cols, rows = _size(cols, rows)
        self.last_input = self._clock()
        try:
            self._process.setwinsize(rows, cols)
        except OSError:
            pass  # the session is ending

    # the end

    def terminate(self, reason: str) -> None:
        """End the session and every process it started (in the background; `ended` is set when done)."""
        with self._cond:
            if self._end_reason or self.exit is not None:
                return
            self._end_reason = reason
            self._cond.notify_all()
        threading.Thread(
            target=processes.end_sessions,
            args=(self._spawned.leaders,),
            name=f"kill-{self.id[:8]}",
            daemon=True,
        ).start()

    def _append(self, data: bytes) -> None:
        with self._cond:
            while True:
                attached = self._attachment
                if attached is None or not attached.active or self._end_reason:
                    break
                if self._ring.total + len(data) - attached.offset <= self._ring.capacity:
                    break
                self._cond.wait(0.5)
            self._ring.write(data)
            self._cond.notify_all()

    def _run(self, on_end: Callable[[Session], None]) -> None:
        fd = self._process.fd
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        try:
            while True:
                if not poller.poll(500):
                    if processes.child_exited(self.pid):
                        break  # the shell is gone; jobs it left may still hold the terminal
                    continue
                try:
                    data = os.read(fd, READ_SIZE)
                except OSError:  # EIO: every process holding the terminal is gone
                    break
                if not data:
                    break
                self._append(data)
        except Exception:  # noqa: BLE001 - the session must still end cleanly
            logger.exception("terminal session %s: reader failed", self.id[:8])
        finally:
            self._finish(poller, on_end)

    def _finish(self, poller: select.poll, on_end: Callable[[Session], None]) -> None:
        left = processes.end_sessions(self._spawned.leaders)
        if left:
            logger.warning("terminal session %s: processes %s survived SIGKILL", self.id[:8], left)
        while poller.poll(0):  # the last output
            try:
                data = os.read(self._process.fd, READ_SIZE)
            except OSError:
                break
            if not data:
                break
            with self._cond:
                self._ring.write(data)
        self._process.wait()
        self._process.delayafterclose = 0
        try:
            self._process.close(force=True)
        except OSError:
            pass
        code = self._process.exitstatus
        exit_ = Exit(
            code=-1 if code is None else int(code),
            signal=int(self._process.signalstatus or 0),
            reason=self._end_reason or "exited",
        )
        with self._cond:
            self.exit = exit_
            self._cond.notify_all()
        self.ended.set()
        on_end(self)


@dataclass(frozen=True)
class Limits:
    idle_timeout: float = 15 * 60
    grace: float = 120
    sessions_per_user: int = 5
    scrollback_bytes: int = 256 * 1024


class Registry:
    """Every session of this process, by id. Owned by the service; one reaper thread enforces the
    idle timeout and the grace period."""

    def __init__(
        self,
        *,
        spawner: Spawner,
        audit: Audit,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._spawner = spawner
        self._audit = audit
        self.limits = limits
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._opening: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def get(self, session_id: str) -> Session | None:
        with self._lock:
            return self._sessions.get(session_id)

    def live(self, user: str = "") -> list[Session]:
        with self._lock:
            return [s for s in self._sessions.values() if s.exit is None and (not user or s.user == user)]

    def _reserve(self, user: str) -> None:
        with self._lock:
            count = self._opening.get(user, 0) + sum(
                1 for s in self._sessions.values() if s.user == user and s.exit is None
            )
            if count >= self.limits.sessions_per_user:
                raise RateLimited(
                    f"you have {count} terminal sessions (the limit is {self.limits.sessions_per_user}); "
                    "close one first"
                )
            self._opening[user] = self._opening.get(user, 0) + 1

    def _release(self, user: str) -> None:
        with self._lock:
            self._opening[user] -= 1
            if not self._opening[user]:
                del self._opening[user]

    def open(
        self, *, user: str, role: str, target: Target, cols: int, rows: int, idle_timeout: float = 0
    ) -> tuple[Session, Attachment]:
        check_role(target, role)
        self._reserve(user)
        session_id = secrets.token_hex(16)
        try:
            command = self._spawner.prepare(target, session_id)
            subject, payload = str(target), {"session": session_id, "target": str(target)}
            self._audit(STARTED, subject, user, payload)  # no audit, no session
            cols, rows = _size(cols, rows)
            try:
                spawned = self._spawner.start(command, cols=cols, rows=rows)
            except AppOSError as exc:
                self._audit_quietly(ENDED, subject, user, {**payload, "reason": f"failed: {exc.message}"})
                raise
            limit = self.limits.idle_timeout
            session = Session(
                session_id=session_id,
                user=user,
                target=target,
                spawned=spawned,
                scrollback_bytes=self.limits.scrollback_bytes,
                idle_timeout=min(idle_timeout, limit) if idle_timeout > 0 else limit,
                clock=self._clock,
            )
            attachment = session.attach()
            with self._lock:
                self._sessions[session_id] = session
        finally:
            self._release(user)
        logger.info("terminal session %s opened by %s: %s", session_id[:8], user, target)
        session.start(self._ended)
        return session, attachment

    def attach(
        self, *, session_id: str, user: str, role: str, cols: int, rows: int
    ) -> tuple[Session, Attachment]:
        session = self.get(session_id)
        if session is None or session.user != user:
            raise NotFound("no such terminal session: it ended, its grace period passed, or it is not yours")
        check_role(session.target, role)
        return session, session.attach(cols, rows)

    def _audit_quietly(self, kind: str, subject: str, actor: str, payload: dict[str, Any]) -> None:
        try:
            self._audit(kind, subject, actor, payload)
        except Exception as exc:  # noqa: BLE001 - the session has ended either way; say so in the log
            logger.warning(
                "could not record %s for session %s: %s", kind, payload.get("session", "")[:8], exc
            )

    def _ended(self, session: Session) -> None:
        assert session.exit is not None
        seconds = round((now_us() - session.started_us) / 1e6, 3)
        logger.info("terminal session %s ended: %s", session.id[:8], session.exit.reason)
        self._audit_quietly(
            ENDED,
            str(session.target),
            session.user,
            {
                "session": session.id,
                "target": str(session.target),
                "reason": session.exit.reason,
                "exit_code": session.exit.code,
                "signal": session.exit.signal,
                "seconds": seconds,
            },
        )

    def reap(self) -> None:
        """End idle sessions and ones detached past the grace period; forget ended ones once their
        exit was delivered, or nobody came back for it within the grace period."""
        now = self._clock()
        with self._lock:
            sessions = list(self._sessions.values())
        for s in sessions:
            detached_for = now - s.detached_at if s.detached_at is not None else None
            if s.exit is not None:
                if s.exit_delivered or (detached_for is not None and detached_for > self.limits.grace):
                    with self._lock:
                        self._sessions.pop(s.id, None)
            elif now - s.last_input > s.idle_timeout:
                s.terminate("idle_timeout")
            elif detached_for is not None and detached_for > self.limits.grace:
                s.terminate("detached_timeout")

    def run_reaper(self, interval: float = 1.0) -> None:
        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.reap()
                except Exception:  # noqa: BLE001 - the reaper must survive a bad round
                    logger.exception("terminal reaper failed")

        threading.Thread(target=loop, name="terminal-reaper", daemon=True).start()

    def shutdown(self, timeout: float = 5.0) -> None:
        """End every session (reason "shutdown") and wait for them, up to `timeout` seconds."""
        self._stop.set()
        sessions = self.live()
        for s in sessions:
            s.terminate("shutdown")
        deadline = time.monotonic() + timeout
        for s in sessions:
            s.ended.wait(max(0.0, deadline - time.monotonic()))
