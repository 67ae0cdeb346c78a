"""Whole-database copies for backups: a consistent snapshot of the live database (SQLite's online
backup API), the check of a database file from an archive, and its restore into the live database.

Restore copies the checked file *into* the open database with the same backup API, under the
store's write lock, instead of swapping files under live connections: SQLite then keeps its WAL
and every pooled connection consistent, and the copy is one transaction (all or nothing). The
restored database is migrated to head, and the event sequence is moved past the newest seq this
process had published, so watchers that reconnect with their last seq see every later event.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from services.common.errors import InvalidArgument
from services.common.timestamps import now_us
from services.state.db import MIGRATIONS, migrate
from services.state.store import Store

REQUIRED_TABLES = ("alembic_version", "users", "api_tokens", "apps", "config_versions", "events")


@dataclass(frozen=True)
class DatabaseInfo:
    revision: str
    users: int = 0
    tokens: int = 0
    apps: int = 0
    domains: int = 0
    app_names: list[str] = field(default_factory=list)


def known_revisions() -> list[str]:
    """Every revision this code can migrate from, oldest first (the chain ends at head)."""
    # Imported here: Alembic is ~10 MiB that the state process needs only to check or restore.
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def inside(path: Path, folder: Path) -> Path:
    """`path` resolved, refused unless it lies inside `folder` (no `..`, no symlink out)."""
    resolved = path.resolve()
    if not resolved.is_relative_to(folder.resolve()):
        raise InvalidArgument(f"{path} is not inside {folder}")
    return resolved


def snapshot(*, store: Store, dest: Path) -> DatabaseInfo:
    """A consistent copy of the live database at `dest` (a self-contained file, no WAL)."""
    if dest.exists():
        raise InvalidArgument(f"{dest} already exists")
    raw = store.engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        with closing(sqlite3.connect(dest)) as target:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")
    finally:
        raw.close()
    dest.chmod(0o600)
    return inspect(dest)


def _count(db: sqlite3.Connection, table: str) -> int:
    exists = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()
    return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) if exists else 0  # noqa: S608


def describe(db: sqlite3.Connection) -> DatabaseInfo:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise InvalidArgument(f"not an AppOS database (no {', '.join(missing)} table)")
    row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    revision = str(row[0]) if row else ""
    known = known_revisions()
    if revision not in known:
        raise InvalidArgument(
            f"the database is at revision {revision!r}, which this AppOS does not know "
            f"(it knows {known[0]}..{known[-1]}): restore it with the AppOS version that made it"
        )
    names = [str(r[0]) for r in db.execute("SELECT name FROM apps ORDER BY name")]
    return DatabaseInfo(
        revision=revision,
        users=_count(db, "users"),
        tokens=_count(db, "api_tokens"),
        apps=len(names),
        domains=_count(db, "proxy_domains"),
        app_names=names,
    )


def inspect(path: Path) -> DatabaseInfo:
    """Check a database file without changing it: SQLite's own check, the AppOS tables and a
    revision this code can migrate from."""
    if not path.is_file():
        raise InvalidArgument("the archive's database file is missing")
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
            result = db.execute("PRAGMA quick_check").fetchone()
            if not result or result[0] != "ok":
                raise InvalidArgument(f"the database is damaged: {result[0] if result else 'no answer'}")
            return describe(db)
    except sqlite3.DatabaseError as exc:
        raise InvalidArgument(f"not an SQLite database: {exc}") from exc


def inspect_live(*, store: Store) -> DatabaseInfo:
    raw = store.engine.raw_connection()
    try:
        db = raw.driver_connection
        assert isinstance(db, sqlite3.Connection)
        return describe(db)
    finally:
        raw.close()


def restore(*, store: Store, source: Path) -> DatabaseInfo:
    """Replace the live database with `source` (checked first; a bad file changes nothing)."""
    from alembic.util.exc import CommandError

    inspect(source)
    try:
        known_revisions()
    except CommandError as exc:  # pragma: no cover - a broken checkout
        raise InvalidArgument(f"migrations unavailable: {exc}") from exc
    with store.exclusive():
        published = store.notifier.last_seq
        raw = store.engine.raw_connection()
        try:
            target = raw.driver_connection
            assert isinstance(target, sqlite3.Connection)
            with closing(sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)) as db:
                db.backup(target)
        finally:
            raw.close()
        store.engine.dispose()
        migrate(store.engine)
        with store.engine.begin() as connection:
            # Every login's session ends: an access token from before its user's last change is
            # refused (the gateway compares the token's `uv` with the user's updated_at), whether it
            # came from the backup's time or from this install's.
            connection.execute(text("UPDATE users SET updated_at = max(updated_at, :now)"), {"now": now_us()})
            newest = connection.scalar(text("SELECT coalesce(max(seq), 0) FROM events")) or 0
            if published > newest:
                # Later events get seqs above any a watcher has seen (AUTOINCREMENT's counter).
                connection.execute(
                    text("UPDATE sqlite_sequence SET seq = :seq WHERE name = 'events'"), {"seq": published}
                )
        store.notifier.published(max(published, int(newest)))
    return inspect_live(store=store)
