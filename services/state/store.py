"""Sessions on the state database: many readers, one writer at a time, and a wake-up for watchers.

A write is one transaction; the events it appended are published to `EventNotifier` only after
the commit, so a watcher never sees an event that could still roll back. The notifier also keeps
the newest events themselves, so a watcher that is up to date takes them from memory instead of
reading the log again for each one.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from appos.v1 import common_pb2
from services.state import audit
from services.state.models import Event

LAST_EVENT_SEQ = "last_event_seq"
EMITTED = "emitted_events"  # session.info: the events a transaction appended, in order
RECENT_EVENTS = 512


class EventNotifier:
    """Tracks the newest committed event seq, wakes threads waiting for a newer one, and keeps the
    newest `RECENT_EVENTS` committed events: every event with a seq above `floor` is held, so a
    watcher past the floor reads nothing from the database."""

    def __init__(self, last_seq: int, *, keep: int = RECENT_EVENTS) -> None:
        self._cond = threading.Condition()
        self._last_seq = last_seq
        self._closed = False
        self._recent: deque[common_pb2.Event] = deque()
        self._keep = keep
        self._floor = last_seq  # every committed event above this seq is in `_recent`

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def closed(self) -> bool:
        return self._closed

    def published(self, seq: int, events: Sequence[common_pb2.Event] = ()) -> None:
        """Events up to `seq` are committed: `events` are the ones one transaction appended, in
        order. Without them (a restored database), what is held is dropped: watchers read the log."""
        with self._cond:
            if events and events[0].seq > self._last_seq:
                self._recent.extend(events)
                while len(self._recent) > self._keep:
                    self._floor = self._recent.popleft().seq
            else:
                self._recent.clear()
                self._floor = max(seq, self._last_seq)
            if seq > self._last_seq:
                self._last_seq = seq
                self._cond.notify_all()

    def recent_after(self, seq: int) -> list[common_pb2.Event] | None:
        """The committed events after `seq`, when all of them are held (else None: read the log)."""
        with self._cond:
            if seq < self._floor:
                return None
            newer: list[common_pb2.Event] = []
            for event in reversed(self._recent):
                if event.seq <= seq:
                    break
                newer.append(event)
            newer.reverse()
            return newer

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
            if seq is not None:  # under the write lock: watchers get events in seq order
                self.notifier.published(seq, [event.to_pb() for event in session.info.get(EMITTED, ())])
            for call in audit.committed_calls(session):
                self.recent_calls.add(call)
