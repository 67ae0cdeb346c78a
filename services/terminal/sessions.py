"""A terminal session: one process in a PTY, a reader thread that copies its output into a bounded
scrollback, and at most one attached connection that reads from there at its own offset. The
reader waits while the attached connection is a whole scrollback behind (flow control reaches the
shell the way it does over ssh); with nobody attached it keeps reading, dropping the oldest output.

A connection that goes away without closing the session detaches it; attaching again replays the
scrollback, then live output. Ending a session ends every process it started
(`processes.end_sessions`). The rules around sessions (limits, timeouts, audit) are the registry's.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from services.common.timestamps import now_us
from services.terminal import processes
from services.terminal.scrollback import Scrollback
from services.terminal.spawn import Spawned
from services.terminal.targets import Target

logger = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
# Largest data message to a connection; a slow reader gets output in chunks this large.
CHUNK = 128 * 1024
# While output streams (the previous message was large and recent), wait up to COALESCE seconds for
# a fuller message: fewer, larger messages carry bulk output several times faster down the
# gRPC -> gateway -> WebSocket path. A keystroke's echo after a pause is never held back.
STREAMING = 2048
COALESCE = 0.004
MAX_SIZE = 1000  # columns or rows


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


def window_size(cols: int, rows: int) -> tuple[int, int]:
    """A PTY size within sane bounds; 0 means the default (80x24)."""
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
        self.started = clock()
        self._spawned = spawned
        self._process = spawned.process
        self._clock = clock
        self._ring = Scrollback(scrollback_bytes)
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._attachment: Attachment | None = None
        self._wanted = 1  # bytes the attached connection waits for before it reads
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
        streaming_until = 0.0
        while True:
            chunk: bytes = b""
            final: Exit | Detached | None = None
            with self._cond:
                self._wanted = 1
                while attachment.active and attachment.offset >= self._ring.total and self.exit is None:
                    self._cond.wait(5.0)
                if time.monotonic() < streaming_until:
                    self._fill(attachment)
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
                streaming_until = time.monotonic() + 0.05 if len(chunk) >= STREAMING else 0.0
                yield chunk
                continue
            if final is not None:
                yield final
            return

    def _fill(self, attachment: Attachment) -> None:
        """Wait (holding the condition) up to COALESCE seconds for a whole CHUNK to read (or half
        the scrollback, if that is less: the reader cannot get further ahead)."""
        deadline = time.monotonic() + COALESCE
        self._wanted = min(CHUNK, self._ring.capacity // 2)
        while attachment.active and self.exit is None and self._ring.total - attachment.offset < self._wanted:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(left)

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
        cols, rows = window_size(cols, rows)
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
            target=self._spawned.end,
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
            # wake the connection only when it has what it waits for (a wake-up per read costs a
            # thread switch for every 4 KiB of bulk output)
            if attached is None or self._ring.total - attached.offset >= self._wanted:
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
        left = self._spawned.end()
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
