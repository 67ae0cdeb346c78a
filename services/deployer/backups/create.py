"""Making a backup: `start` (in the deployer's call) claims the guard, writes the sidecar `running`
and queues the job; `make` (the worker's task) snapshots the database, archives the app folders,
Caddy's storage and the opted-in apps' volumes (each from the engine of its app's server: this
machine's, or a remote server's through its forwarded socket), renames the archive into place,
applies retention."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis import Redis

from appos.v1 import state_pb2
from services.common import engines
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.state_client import StateClient
from services.common.timestamps import now_us
from services.deployer import archive, volumes
from services.deployer.backups.guard import BUSY_QUEUED_TTL, Guard
from services.deployer.backups.internal import Internal, event
from services.deployer.backups.store import Record, Store, appos_version, new_id
from services.deployer.settings import DeployerSettings

logger = logging.getLogger(__name__)

VOLUMES_PREFIX = "backup.volumes."


class Creator:
    def __init__(
        self,
        *,
        settings: DeployerSettings,
        state: StateClient,
        internal: Internal,
        redis: Redis,
        store: Store,
        docker_factory: Callable[[], Any],
        enqueue: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.state = state
        self.internal = internal
        self.redis = redis
        self.store = store
        self.folder = store.folder
        self.docker_factory = docker_factory
        self.enqueue = enqueue

    def set_volume_opt_in(self, app: str, enabled: bool, actor: str) -> None:
        self.internal.put_settings({f"{VOLUMES_PREFIX}{app}": True if enabled else None}, actor)

    def volume_opt_ins(self) -> set[str]:
        return {
            k.removeprefix(VOLUMES_PREFIX) for k, v in self.internal.settings(VOLUMES_PREFIX).items() if v
        }

    def start(self, *, include_volumes: bool, message: str, actor: str, origin: str) -> Record:
        """Claim the guard, write the sidecar, queue the job (the worker runs `make`)."""
        if len(message) > 500:
            raise InvalidArgument("message must be at most 500 characters")
        self.folder.ensure()
        record = Record(
            id=new_id(datetime.now(UTC)),
            message=message,
            created_at=now_us(),
            appos_version=appos_version(),
            include_volumes=include_volumes,
            origin=origin,
            actor=actor,
        )
        guard = Guard(self.redis, record.id)
        guard.claim(BUSY_QUEUED_TTL)
        self.folder.save(record)
        try:
            self.enqueue(record.id)
        except Exception as exc:
            guard.release()
            self.folder.delete(record.id)
            raise FailedPrecondition("the task queue (redis) is unavailable; try again shortly") from exc
        event(self.state, "backup_started", record.id, actor, origin=origin, include_volumes=include_volumes)
        return record

    def make(self, backup_id: str) -> Record | None:
        """The job: snapshot, files, volumes, manifest, retention. Failure leaves no archive."""
        try:
            record = self.folder.load(backup_id)
        except NotFound:  # deleted after waiting longer than BUSY_QUEUED_TTL in the queue
            logger.warning("backup %s was deleted before its job ran", backup_id)
            return None
        if record.status != "running":
            return record  # a redelivered task
        work = self.folder.work_dir("work")
        part = self.folder.root / f".{backup_id}.tar.gz.part"
        try:
            # the outcome is saved while the guard is held: a reader between the guard's release and
            # the save would take the record still "running" for an interrupted job
            with Guard(self.redis, backup_id):
                try:
                    manifest = self._write(record, work, part)
                    os.replace(part, self.folder.archive(backup_id))
                    record.status, record.finished_at = "succeeded", now_us()
                    record.size_bytes = self.folder.archive(backup_id).stat().st_size
                    record.revision = manifest.revision
                    record.apps = Record.from_manifest(manifest, size=0, origin="").apps
                    self.folder.save(record)
                except Exception as exc:
                    self._failed(record, exc)
                    return record
            event(self.state, "backup_succeeded", backup_id, record.actor, size_bytes=record.size_bytes)
            self.store.apply_retention()
        except Exception as exc:  # the guard could not be taken, or the event or retention failed
            if record.status == "running":
                self._failed(record, exc)
            else:
                logger.warning("backup %s: after the archive was made: %s", backup_id, exc, exc_info=True)
        finally:
            part.unlink(missing_ok=True)
            shutil.rmtree(work, ignore_errors=True)
        return record

    def _failed(self, record: Record, exc: Exception) -> None:
        reason = getattr(exc, "message", "") or f"{type(exc).__name__}: {exc}"
        logger.warning("backup %s failed: %s", record.id, reason, exc_info=not hasattr(exc, "message"))
        record.status, record.reason, record.finished_at = "failed", reason[:500], now_us()
        self.folder.save(record)
        event(self.state, "backup_failed", record.id, record.actor, reason=record.reason)

    def _write(self, record: Record, work: Path, part: Path) -> archive.Manifest:
        def progress(step: str, **extra: Any) -> None:
            event(self.state, "backup_progress", record.id, record.actor, step=step, **extra)

        apps = {a.name: a for a in self.state.stub.ListApps(state_pb2.StateListAppsRequest()).apps}
        opted = self.volume_opt_ins()
        db_path = work / "appos.db"
        info = self.internal.snapshot_database(str(db_path))
        progress("database", revision=info.revision)
        writer = archive.ArchiveWriter(part)
        entries: list[archive.AppEntry] = []
        try:
            writer.add_dir("db")
            writer.add_file(db_path, archive.DB_MEMBER)
            writer.add_dir("apps")
            for name in info.app_names:
                folder = self.settings.apps_dir / name
                if folder.is_dir():
                    writer.add_tree(folder, f"apps/{name}")
                app = apps.get(name)
                entries.append(
                    archive.AppEntry(
                        name=name,
                        version=app.current_version if app else 0,
                        server=app.server if app and engines.is_remote(app.server) else "",
                    )
                )
            progress("apps", apps=len(entries))
            caddy = self.settings.data / "caddy"
            if caddy.is_dir():
                writer.add_dir("caddy")
                for child in sorted(caddy.iterdir()):
                    if child.is_dir() and not child.is_symlink() and child.name != "locks":
                        writer.add_tree(child, f"caddy/{child.name}")
            if record.include_volumes:
                self._add_volumes(writer, work, entries, opted, progress)
            manifest = archive.Manifest(
                product="appos",
                format=1,
                id=record.id,
                appos_version=record.appos_version,
                revision=info.revision,
                created_at=datetime.fromtimestamp(record.created_at / 1e6, UTC).isoformat(),
                message=record.message,
                actor=record.actor,
                origin=record.origin,
                include_volumes=record.include_volumes,
                apps=entries,
            )
            writer.finish(manifest)
        except BaseException:
            writer.abort()
            raise
        with open(part, "rb") as done:
            os.fsync(done.fileno())
        return manifest

    def _add_volumes(
        self,
        writer: archive.ArchiveWriter,
        work: Path,
        entries: list[archive.AppEntry],
        opted: set[str],
        progress: Callable[..., None],
    ) -> None:
        chosen = [e for e in entries if e.name in opted]
        by_server: dict[str, list[archive.AppEntry]] = {}
        for entry in chosen:
            by_server.setdefault(entry.server or engines.LOCAL, []).append(entry)
        dir_added = False  # `volumes/`, once
        for server, on_server in sorted(by_server.items()):
            factory = engines.factory_for(server, sockets=self.settings.sockets, local=self.docker_factory)
            dir_added |= self._add_server_volumes(factory, writer, work, on_server, progress, dir_added)

    def _add_server_volumes(
        self,
        factory: Callable[[], Any],
        writer: archive.ArchiveWriter,
        work: Path,
        chosen: list[archive.AppEntry],
        progress: Callable[..., None],
        dir_added: bool,
    ) -> bool:
        """The volumes of `chosen`, apps on one server, through one helper on its engine; whether
        any was found (and `volumes/` is in the archive)."""
        client = factory()
        try:
            image = volumes.helper_image(client, self.settings.backup_helper_image)
            found = {entry.name: volumes.app_volumes(client, entry.name) for entry in chosen}
            names = [docker_name for vols in found.values() for _, docker_name, _ in vols]
            if not names:
                return False
            if not dir_added:
                writer.add_dir("volumes")
            by_name = {entry.name: entry for entry in chosen}
            with (
                volumes.helper(client, image, names, read_only=True) as helper,
                contextlib.closing(volumes.export_apps(client, helper, found, work)) as copies,
            ):
                for app, exported in copies:
                    entry = by_name[app]
                    writer.add_dir(f"volumes/{app}")
                    for volume in exported:
                        member = f"volumes/{app}/{volume.name}.tar"
                        writer.add_file(volume.tar, member)
                        volume.tar.unlink()
                        entry.volumes.append(
                            archive.VolumeEntry(
                                name=volume.name,
                                docker_name=volume.docker_name,
                                labels=volume.labels,
                                file=member,
                            )
                        )
                    progress("volumes", app=app, volumes=[v.name for v in entry.volumes])
        finally:
            client.close()
        return True
