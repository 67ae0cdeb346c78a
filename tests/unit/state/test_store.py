"""The state domain on a real SQLite file (no server): migrations, pragmas, events in the same
transaction, guards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, Unauthenticated
from services.common.timestamps import now_us
from services.state import events, tokens, users
from services.state.db import make_engine, migrate
from services.state.store import EventNotifier, Store

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    engine = make_engine(tmp_path / "appos.db")
    migrate(engine)
    migrate(engine)  # idempotent
    yield Store(engine)
    engine.dispose()


def _user(store: Store, name: str, role: str = "admin") -> None:
    with store.write() as s:
        users.create_user(session=s, username=name, password_hash=HASH, role=role, actor="test")


def test_wal_and_full_sync(store: Store) -> None:
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_a_write_and_its_event_commit_together(store: Store) -> None:
    _user(store, "alice")
    with store.read() as s:
        found = events.list_after(session=s, after_seq=0, limit=10)
    assert [(e.type, e.subject) for e in found] == [("user_created", "alice")]
    assert store.notifier.last_seq == found[0].seq


def test_a_failed_write_leaves_no_event(store: Store) -> None:
    _user(store, "alice")
    before = store.notifier.last_seq
    with pytest.raises(AlreadyExists), store.write() as s:
        users.create_user(session=s, username="alice", password_hash=HASH, role="viewer", actor="t")
    with pytest.raises(RuntimeError), store.write() as s:
        users.create_user(session=s, username="bob", password_hash=HASH, role="viewer", actor="t")
        raise RuntimeError("crash after the insert")
    with store.read() as s:
        assert events.list_after(session=s, after_seq=before, limit=10) == []
        assert users.count_users(session=s) == 1
    assert store.notifier.last_seq == before


def test_last_admin_guard(store: Store) -> None:
    _user(store, "root")
    with pytest.raises(FailedPrecondition), store.write() as s:
        users.delete_user(session=s, username="root", actor="t")
    _user(store, "second")
    with store.write() as s:
        users.update_user(
            session=s, username="root", role="viewer", password_hash=None, disabled=None, actor="t"
        )
    with pytest.raises(FailedPrecondition), store.write() as s:
        users.update_user(
            session=s, username="second", role=None, password_hash=None, disabled=True, actor="t"
        )


def test_token_lifecycle(store: Store) -> None:
    _user(store, "ops", role="operator")
    with store.write() as s:
        live = tokens.create_token(
            session=s,
            username="ops",
            name="a",
            role="viewer",
            token_hash="a" * 64,
            prefix="appos_x",
            expires_at=None,
            actor="ops",
        )
        tokens.create_token(
            session=s,
            username="ops",
            name="old",
            role="viewer",
            token_hash="b" * 64,
            prefix="appos_y",
            expires_at=now_us() - 1_000_000,
            actor="ops",
        )
        with pytest.raises(InvalidArgument):
            tokens.create_token(
                session=s,
                username="ops",
                name="up",
                role="admin",
                token_hash="c" * 64,
                prefix="p",
                expires_at=None,
                actor="ops",
            )
    with store.read() as s:
        assert tokens.resolve_token(session=s, token_hash="a" * 64).id == live.id
        with pytest.raises(Unauthenticated):
            tokens.resolve_token(session=s, token_hash="b" * 64)  # expired
        with pytest.raises(Unauthenticated):
            tokens.resolve_token(session=s, token_hash="d" * 64)  # unknown
    with store.write() as s:
        tokens.revoke_token(session=s, token_id=live.id, username="ops", actor="ops")
    with store.read() as s, pytest.raises(Unauthenticated):
        tokens.resolve_token(session=s, token_hash="a" * 64)


def test_event_seqs_are_never_reused(store: Store) -> None:
    with store.write() as s:
        first = events.emit(session=s, type="a", subject="x", actor="t", payload={}).seq
    with store.write() as s:
        s.execute(text("DELETE FROM events"))
    with store.write() as s:
        second = events.emit(session=s, type="b", subject="x", actor="t", payload={}).seq
    assert second > first


def test_watchers_take_the_newest_committed_events_from_memory(store: Store) -> None:
    start = store.notifier.last_seq
    with store.write() as s:
        first = events.emit(session=s, type="a", subject="x", actor="t", payload={}).seq
        second = events.emit(session=s, type="b", subject="x", actor="t", payload={}).seq
    with pytest.raises(RuntimeError), store.write() as s:
        events.emit(session=s, type="rolled_back", subject="x", actor="t", payload={})
        raise RuntimeError("no commit")
    _user(store, "alice")
    held = store.notifier.recent_after(start)
    assert held is not None
    assert [e.type for e in held] == ["a", "b", "user_created"]
    assert [e.seq for e in held][:2] == [first, second]
    with store.read() as s:  # the same as the log says
        assert [e.to_pb() for e in events.list_after(session=s, after_seq=start, limit=10)] == held
    assert store.notifier.recent_after(second) == held[2:]
    assert store.notifier.recent_after(store.notifier.last_seq) == []


def test_only_the_newest_events_are_held_and_older_ones_come_from_the_log(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "appos.db")
    migrate(engine)
    store = Store(engine)
    store.notifier = EventNotifier(store.notifier.last_seq, keep=3)
    seqs = []
    for i in range(5):
        with store.write() as s:
            seqs.append(events.emit(session=s, type=f"e{i}", subject="x", actor="t", payload={}).seq)
    assert store.notifier.recent_after(seqs[0]) is None  # seqs[1] is no longer held
    held = store.notifier.recent_after(seqs[1])
    assert held is not None and [e.seq for e in held] == seqs[2:]
    # a restored database: nothing held is trusted, watchers read the log
    store.notifier.published(seqs[-1])
    assert store.notifier.recent_after(seqs[1]) is None
    assert store.notifier.recent_after(seqs[-1]) == []
    engine.dispose()
