"""Database snapshots and restores on real SQLite files: consistent copies, foreign files refused,
a restore replacing the live data and keeping event seqs growing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from services.common.errors import InvalidArgument
from services.common.timestamps import now_us
from services.state import apps, events, settings_store, snapshots, users
from services.state.db import make_engine, migrate
from services.state.models import User
from services.state.store import Store

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


def _store(path: Path) -> Store:
    engine = make_engine(path)
    migrate(engine)
    return Store(engine)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    live = _store(tmp_path / "appos.db")
    yield live
    live.engine.dispose()


def _usernames(store: Store) -> list[str]:
    with store.read() as s:
        return list(s.scalars(select(User.username).order_by(User.username)))


def test_snapshot_then_restore(store: Store, tmp_path: Path) -> None:
    with store.write() as s:
        users.create_user(session=s, username="alice", password_hash=HASH, role="admin", actor="t")
        settings_store.put_settings(session=s, values={"backup.retention": "3"}, actor="t")
    info = snapshots.snapshot(store=store, dest=tmp_path / "copy.db")
    assert info.users == 1 and info.revision == snapshots.known_revisions()[-1]
    with store.write() as s:
        users.create_user(session=s, username="bob", password_hash=HASH, role="viewer", actor="t")
        for _ in range(5):
            events.emit(session=s, type="noise", subject="x", actor="t", payload={})
    seq_before = store.notifier.last_seq
    with store.read() as s:
        backed_up = s.scalars(select(User.updated_at).where(User.username == "alice")).one()
    before = now_us()
    restored = snapshots.restore(store=store, source=tmp_path / "copy.db")
    assert restored.users == 1
    assert _usernames(store) == ["alice"]
    with store.read() as s:
        changed = s.scalars(select(User.updated_at).where(User.username == "alice")).one()
    # every login's session ends: its token's user version is older than the user now
    assert changed >= before > backed_up
    with store.read() as s:
        assert settings_store.get_settings(session=s, prefix="backup.") == {"backup.retention": "3"}
    with store.write() as s:
        later = events.emit(session=s, type="after", subject="x", actor="t", payload={})
    assert later.seq > seq_before  # watchers that saw seq_before miss nothing later


def test_foreign_and_damaged_files_are_refused(store: Store, tmp_path: Path) -> None:
    with store.write() as s:
        users.create_user(session=s, username="alice", password_hash=HASH, role="admin", actor="t")
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE things (id INTEGER)")
    future = tmp_path / "future.db"
    snapshots.snapshot(store=store, dest=future)
    with sqlite3.connect(future) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"hello" * 1000)
    for path, words in (
        (foreign, "not an AppOS database"),
        (future, "does not know"),
        (garbage, "not an SQLite"),
    ):
        with pytest.raises(InvalidArgument, match=words):
            snapshots.restore(store=store, source=path)
        assert _usernames(store) == ["alice"]  # nothing changed
    with pytest.raises(InvalidArgument, match="not inside"):
        snapshots.inside(tmp_path / "backups" / ".." / "x.db", tmp_path / "backups")


def test_settings_keys_and_values_are_checked(store: Store) -> None:
    with store.write() as s:
        for bad in ({"Bad Key": "1"}, {"a.b": "not json"}):
            with pytest.raises(InvalidArgument):
                settings_store.put_settings(session=s, values=bad, actor="t")
        settings_store.put_settings(session=s, values={"backup.volumes.blog": "true"}, actor="t")
        settings_store.put_settings(session=s, values={"backup.volumes.blog": ""}, actor="t")
        assert settings_store.get_settings(session=s, prefix="backup.") == {}


def test_removing_an_app_forgets_its_volume_opt_in(store: Store) -> None:
    with store.write() as s:
        apps.create_app(
            session=s, name="blog", template="", compose="services: {}\n", env="",
            web_service="", web_port=0, actor="t",
        )  # fmt: skip
        settings_store.put_settings(session=s, values={"backup.volumes.blog": "true"}, actor="t")
    with store.write() as s:
        apps.delete_app(session=s, name="blog", actor="t")
    with store.read() as s:
        assert settings_store.get_settings(session=s, prefix="backup.volumes.") == {}
