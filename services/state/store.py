"""Sessions on the state database: many readers, one writer at a time, and a wake-up for watchers.

A write is one transaction; the events it appended are published to `EventNotifier` only after
the commit, so a watcher never sees an event that could still roll back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from services.state import audit
from services.state.models import Event

LAST_EVENT_SEQ = "last_event_seq"


class EventNotifier:
    """Tracks the newest committed event seq and wakes threads waiting for a newer one."""

    def __init__(self, last_seq: int) -> None:
        self._cond = threading.Condition()
        self._last_seq = last_seq
        self._closed = False

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def closed(self) -> bool:
        return self._closed

    def published(self, seq: int) -> None:
        with self._cond:
            if seq > self._last_seq:
                self._last_seq = seq
                self._cond.notify_all()

    def wait_beyond(self, seq: int, timeout: float) -> bool:
        """Block until an event newer than `seq` is committed (True), or timeout/close (False)."""
        with self._cond:
            self._cond.wait_for(lambda: self._last_seq > seq or self._closed, timeout)
            return self._last_seq > seq

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._write_lock = threading.Lock()
        self.recent_calls = audit.RecentCalls()
        with self._sessions() as session:
            last = session.scalar(select(func.max(Event.seq))) or 0
        self.notifier = EventNotifier(last)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """No write of this process runs meanwhile (a database restore)."""
        with self._write_lock:
            yield

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction, serialized with every other write in this process, committed on exit.
        A change made for a caller adds its audit entry in the same transaction (`audit`)."""
        with self._write_lock, self._sessions() as session:
            session.info[audit.RECENT_CALLS] = self.recent_calls
            with session.begin():
                yield session
            seq = session.info.get(LAST_EVENT_SEQ)
            for call in audit.committed_calls(session):
                self.recent_calls.add(call)
        if seq is not None:
            self.notifier.published(seq)
