"""The folder of backups, APPOS_DATA/backups: one `<id>.tar.gz` and a JSON sidecar `<id>.json` each
(nothing about backups lives in the database, so a restore does not hide them); listing, reading,
deleting, downloading, storing an uploaded archive, and retention."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from redis import Redis

from appos.v1 import backups_pb2
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.state_client import StateClient
from services.common.timestamps import now_us, set_ts
from services.deployer import archive
from services.deployer.backups import guard
from services.deployer.backups.internal import Internal, event

logger = logging.getLogger(__name__)

_ID = re.compile(r"^appos-backup-\d{8}T\d{6}Z-[0-9a-f]{6}$")
SETTING_RETENTION = "backup.retention"
DEFAULT_RETENTION = 7


def appos_version() -> str:
    try:
        return importlib.metadata.version("appos")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "0.0.0"


def validate_id(backup_id: str) -> str:
    if not _ID.fullmatch(backup_id):
        raise InvalidArgument("backup id must look like appos-backup-YYYYMMDDTHHMMSSZ-xxxxxx")
    return backup_id


def new_id(now: datetime) -> str:
    return f"appos-backup-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


@dataclass
class Record:
    """A backup's sidecar: what the list shows without opening the archive."""

    id: str
    status: str = "running"
    reason: str = ""
    message: str = ""
    created_at: int = 0
    finished_at: int = 0
    size_bytes: int = 0
    appos_version: str = ""
    revision: str = ""
    apps: list[dict[str, Any]] | None = None
    include_volumes: bool = False
    origin: str = "api"
    actor: str = ""

    def to_pb(self) -> backups_pb2.Backup:
        pb = backups_pb2.Backup(
            id=self.id,
            status=self.status,
            reason=self.reason,
            message=self.message,
            size_bytes=self.size_bytes,
            appos_version=self.appos_version,
            revision=self.revision,
            include_volumes=self.include_volumes,
            origin=self.origin,
            actor=self.actor,
        )
        for app in self.apps or []:
            pb.apps.add(name=app["name"], version=app.get("version", 0), volumes=app.get("volumes", []))
        set_ts(pb.created_at, self.created_at or None)
        set_ts(pb.finished_at, self.finished_at or None)
        return pb

    @classmethod
    def from_manifest(cls, manifest: archive.Manifest, *, size: int, origin: str) -> Record:
        created = datetime.fromisoformat(manifest.created_at)
        return cls(
            id=manifest.id,
            status="succeeded",
            message=manifest.message,
            size_bytes=size,
            created_at=int(created.timestamp() * 1_000_000),
            finished_at=now_us(),
            appos_version=manifest.appos_version,
            revision=manifest.revision,
            apps=[
                {"name": a.name, "version": a.version, "volumes": [v.name for v in a.volumes]}
                for a in manifest.apps
            ],
            include_volumes=manifest.include_volumes,
            origin=origin,
            actor=manifest.actor,
        )


def write_json(path: Path, value: dict[str, Any]) -> None:
    """`value` as `path`, replaced in one rename (a reader never sees half a file)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(value, sort_keys=True))
    os.replace(tmp, path)


class Folder:
    """APPOS_DATA/backups: `<id>.tar.gz` + `<id>.json`; work folders start with a dot."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.root / "incoming").mkdir(exist_ok=True, mode=0o700)

    def archive(self, backup_id: str) -> Path:
        return self.root / f"{validate_id(backup_id)}.tar.gz"

    def sidecar(self, backup_id: str) -> Path:
        return self.root / f"{validate_id(backup_id)}.json"

    def save(self, record: Record) -> None:
        write_json(self.sidecar(record.id), record.__dict__)

    def load(self, backup_id: str) -> Record:
        path = self.sidecar(backup_id)
        try:
            return Record(**json.loads(path.read_text()))
        except FileNotFoundError as exc:
            raise NotFound(f"backup {backup_id} does not exist") from exc

    def records(self) -> list[Record]:
        out = []
        for path in self.root.glob("appos-backup-*.json"):
            try:
                out.append(self.load(path.stem))
            except (ValueError, TypeError, OSError, InvalidArgument, NotFound) as exc:
                logger.warning("backup sidecar %s is left out of the list: %s", path.name, exc)
        return sorted(out, key=lambda r: (r.created_at, r.id), reverse=True)

    def delete(self, backup_id: str) -> None:
        for path in (self.archive(backup_id), self.sidecar(backup_id)):
            path.unlink(missing_ok=True)

    def work_dir(self, prefix: str) -> Path:
        path = self.root / f".{prefix}-{secrets.token_hex(6)}"
        path.mkdir(mode=0o700)
        return path


class Store:
    """The stored backups as the API shows them: a `running` one whose job vanished (its guard
    expired) reads as failed ("interrupted")."""

    def __init__(self, *, folder: Folder, redis: Redis, state: StateClient, internal: Internal) -> None:
        self.folder = folder
        self.redis = redis
        self.state = state
        self.internal = internal

    def _live(self, record: Record) -> Record:
        if record.status == "running" and guard.current(self.redis) != record.id:
            record.status, record.reason = "failed", "interrupted: the job ended without finishing"
        return record

    def records(self) -> list[Record]:
        return [self._live(r) for r in self.folder.records()]

    def get(self, backup_id: str) -> Record:
        return self._live(self.folder.load(backup_id))

    def delete(self, backup_id: str) -> Record:
        record = self.get(backup_id)
        if record.status == "running":
            raise FailedPrecondition(f"backup {backup_id} is still running")
        self.folder.delete(backup_id)
        return record

    def chunks(self, backup_id: str, size: int = 1024 * 1024) -> Iterator[bytes]:
        record = self.get(backup_id)
        if record.status != "succeeded":
            raise FailedPrecondition(f"backup {backup_id} is {record.status}; only a finished one downloads")
        with open(self.folder.archive(backup_id), "rb") as data:
            while chunk := data.read(size):
                yield chunk

    def import_upload(self, path: Path, actor: str) -> Record:
        """An uploaded archive (in backups/incoming): checked completely, then stored, or deleted and
        refused."""
        incoming = (self.folder.root / "incoming").resolve()
        path = path.resolve()
        if path.parent != incoming:
            raise InvalidArgument("uploads must be in the backups/incoming folder")
        work = self.folder.work_dir("import")
        try:
            manifest = archive.extract_verified(path, work)
            validate_id(manifest.id)
            self.internal.inspect_database(str(work / archive.DB_MEMBER))
            if self.folder.sidecar(manifest.id).exists():
                return self.get(manifest.id)  # the same backup again
            os.replace(path, self.folder.archive(manifest.id))
            record = Record.from_manifest(
                manifest, size=self.folder.archive(manifest.id).stat().st_size, origin="upload"
            )
            self.folder.save(record)
            event(self.state, "backup_uploaded", record.id, actor)
            return record
        finally:
            path.unlink(missing_ok=True)
            shutil.rmtree(work, ignore_errors=True)

    def apply_retention(self) -> list[str]:
        """Keep the newest `backup.retention` succeeded backups (0 keeps all); delete the rest,
        and failed ones older than the oldest kept."""
        keep = int(self.internal.settings(SETTING_RETENTION).get(SETTING_RETENTION, DEFAULT_RETENTION))
        if keep <= 0:
            return []
        records = self.records()
        done = [r for r in records if r.status == "succeeded"]
        if len(done) <= keep:
            return []
        oldest_kept = done[keep - 1].created_at
        doomed = list(done[keep:]) + [
            r for r in records if r.status == "failed" and r.created_at < oldest_kept
        ]
        for record in doomed:
            self.folder.delete(record.id)
        if doomed:
            event(self.state, "backups_pruned", "backups", "system", ids=[r.id for r in doomed])
        return [r.id for r in doomed]
