"""Every terminal session of the process, and the rules around them.

A session ends when its shell exits, when its client closes it (or the gateway does, because the
access that opened it ended), when nobody typed for the idle timeout, when it reaches its maximum
lifetime, when it stayed detached past the grace period, or when the service stops. Within the grace
period the same user may attach again. Starting and ending are audited (who, target, when, why) —
never what was typed or shown. Sessions per user are limited.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.common.errors import AppOSError, NotFound, RateLimited
from services.common.timestamps import now_us
from services.terminal.sessions import Attachment, Session, window_size
from services.terminal.spawn import Spawner
from services.terminal.targets import Target, check_role

logger = logging.getLogger(__name__)

Audit = Callable[[str, str, str, dict[str, Any]], None]  # (event type, subject, actor, payload)
STARTED = "terminal_session_started"
ENDED = "terminal_session_ended"


@dataclass(frozen=True)
class Limits:
    idle_timeout: float = 15 * 60
    max_lifetime: float = 8 * 3600
    grace: float = 120
    sessions_per_user: int = 5
    scrollback_bytes: int = 256 * 1024


class Registry:
    """Every session of this process, by id. Owned by the service; one reaper thread enforces the
    idle timeout, the maximum lifetime and the grace period."""

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
            cols, rows = window_size(cols, rows)
            try:
                spawned = self._spawner.start(command, cols=cols, rows=rows)
            except Exception as exc:  # every start recorded has its end, even a failed one
                why = exc.message if isinstance(exc, AppOSError) else "could not start"
                self._audit_quietly(ENDED, subject, user, {**payload, "reason": f"failed: {why}"})
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
        """End sessions past their maximum lifetime, idle ones and ones detached past the grace
        period; forget ended ones once their exit was delivered, or nobody came back for it within
        the grace period."""
        now = self._clock()
        with self._lock:
            sessions = list(self._sessions.values())
        for s in sessions:
            detached_for = now - s.detached_at if s.detached_at is not None else None
            if s.exit is not None:
                if s.exit_delivered or (detached_for is not None and detached_for > self.limits.grace):
                    with self._lock:
                        self._sessions.pop(s.id, None)
            elif now - s.started > self.limits.max_lifetime:
                s.terminate("max_lifetime")
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
