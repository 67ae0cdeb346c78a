"""Backups of the whole install: the folder of archives (one tar.gz + a JSON sidecar each), making
one (run by the worker), restoring one (in the deployer), retention, and the schedule.

Only one backup or restore runs at a time: the Redis key `appos:backups:busy` (with a TTL the
running job keeps fresh) says which. A backup whose job vanished shows as failed ("interrupted").
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import itertools
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from appos.v1 import apps_pb2, backups_internal_pb2, backups_internal_pb2_grpc, backups_pb2, state_pb2
from services.common.clients import call_metadata, sync_call, sync_channel
from services.common.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from services.common.state_client import StateClient
from services.common.timestamps import now_us, set_ts
from services.deployer import archive, compose, volumes
from services.deployer.settings import DeployerSettings

logger = logging.getLogger(__name__)

BUSY_KEY = "appos:backups:busy"
BUSY_TTL = 60
# While the job waits in the task queue (behind deployments that may take minutes) nothing refreshes
# the guard: it is taken for this long, and the job, once it runs, keeps it with BUSY_TTL.
BUSY_QUEUED_TTL = 3600
_ID = re.compile(r"^appos-backup-\d{8}T\d{6}Z-[0-9a-f]{6}$")
VOLUMES_PREFIX = "backup.volumes."
SETTING_RETENTION = "backup.retention"
SETTING_SCHEDULE = "backup.schedule"
SETTING_INCLUDE_VOLUMES = "backup.include_volumes"
SETTING_LAST_SCHEDULED = "backup.last_scheduled"
DEFAULT_RETENTION = 7
_SCHEDULE = re.compile(r"^(?:daily@(?P<hh>[01]\d|2[0-3]):(?P<mm>[0-5]\d)|every:(?P<hours>\d{1,3}))$")


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


# --- the schedule -------------------------------------------------------------------------------


# A cron line may not run backups more often than this (as "every:N" cannot).
CRON_MIN_GAP = timedelta(hours=1)
_CRON_CHECKED_RUNS = 48


def is_cron(schedule: str) -> bool:
    """A five-field cron line ("0 3 * * *", in UTC), as opposed to "daily@…" or "every:…"."""
    return len(schedule.split()) == 5


def validate_schedule(schedule: str) -> str:
    if is_cron(schedule):
        from croniter import croniter  # here, not at start: ~2.7 MiB an idle deployer keeps

        schedule = " ".join(schedule.split())
        if not croniter.is_valid(schedule):
            raise InvalidArgument(f"{schedule!r} is not a valid cron line (minute hour day month weekday)")
        runs = croniter(schedule, datetime(2026, 1, 1, tzinfo=UTC))
        times = [runs.get_next(datetime) for _ in range(_CRON_CHECKED_RUNS)]
        if any(b - a < CRON_MIN_GAP for a, b in itertools.pairwise(times)):
            raise InvalidArgument(
                f"{schedule!r} runs more often than once an hour; backups need at least an hour"
            )
        return schedule
    match = _SCHEDULE.fullmatch(schedule)
    if schedule and (match is None or (match["hours"] is not None and not 1 <= int(match["hours"]) <= 168)):
        raise InvalidArgument(
            'schedule must be "", "daily@HH:MM" (UTC), "every:N" (hours, 1-168) '
            'or a cron line such as "0 3 * * *" (UTC)'
        )
    return schedule


def next_run(schedule: str, *, last: datetime | None, now: datetime) -> datetime | None:
    """When the next scheduled backup is due (None without a schedule), counted from the previous
    scheduled run, or from `now` when there was none."""
    if is_cron(schedule):
        from croniter import croniter

        try:
            due: datetime = croniter(schedule, last or now).get_next(datetime)
        except (ValueError, KeyError):  # a line stored before it was checked: no run
            return None
        return due
    match = _SCHEDULE.fullmatch(schedule)
    if not schedule or match is None:
        return None
    base = last or now
    if match["hours"] is not None:
        return base + timedelta(hours=int(match["hours"]))
    due = base.replace(hour=int(match["hh"]), minute=int(match["mm"]), second=0, microsecond=0)
    return due if due > base else due + timedelta(days=1)


# --- the folder ---------------------------------------------------------------------------------


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
        path = self.sidecar(record.id)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record.__dict__, sort_keys=True))
        os.replace(tmp, path)

    def load(self, backup_id: str) -> Record:
        path = self.sidecar(backup_id)
        try:
            return Record(**json.loads(path.read_text()))
        except FileNotFoundError as exc:
            raise NotFound(f"backup {backup_id} does not exist") from exc

    def records(self) -> list[Record]:
        out = []
        for path in self.root.glob("appos-backup-*.json"):
            with contextlib.suppress(ValueError, TypeError, OSError, InvalidArgument, NotFound):
                out.append(self.load(path.stem))
        return sorted(out, key=lambda r: (r.created_at, r.id), reverse=True)

    def delete(self, backup_id: str) -> None:
        for path in (self.archive(backup_id), self.sidecar(backup_id)):
            path.unlink(missing_ok=True)

    def work_dir(self, prefix: str) -> Path:
        path = self.root / f".{prefix}-{secrets.token_hex(6)}"
        path.mkdir(mode=0o700)
        return path


class Busy:
    """The one-at-a-time guard in Redis, refreshed by a thread while the job runs."""

    def __init__(self, redis: Redis, owner: str) -> None:
        self.redis = redis
        self.owner = owner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="backup-busy", daemon=True)

    def claim(self, ttl: int = BUSY_TTL) -> None:
        if not self.redis.set(BUSY_KEY, self.owner, nx=True, ex=ttl):
            raise Conflict(
                f"a backup or restore is running ({self.current(self.redis)}); try again when it ends"
            )

    @staticmethod
    def current(redis: Redis) -> str:
        value = redis.get(BUSY_KEY)
        return value.decode() if isinstance(value, bytes) else str(value or "")

    def _loop(self) -> None:
        while not self._stop.wait(BUSY_TTL / 4):
            if self.current(self.redis) == self.owner:
                self.redis.expire(BUSY_KEY, BUSY_TTL)

    def __enter__(self) -> Busy:
        if self.current(self.redis) != self.owner:
            self.claim()
        self.redis.expire(BUSY_KEY, BUSY_TTL)  # from the queued claim's TTL to the running one's
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.current(self.redis) == self.owner:
            self.redis.delete(BUSY_KEY)


class Internal:
    """The internal services backups need: state's BackupState and proxyctl's ProxyReload."""

    def __init__(self, settings: DeployerSettings) -> None:
        self._state = backups_internal_pb2_grpc.BackupStateStub(sync_channel(settings.socket_path("state")))
        self._proxy = backups_internal_pb2_grpc.ProxyReloadStub(
            sync_channel(settings.socket_path("proxyctl"))
        )
        self.timeout = settings.rpc_timeout_seconds

    def state(self, method: str, request: Any, *, timeout: float | None = None) -> Any:
        return sync_call(
            getattr(self._state, method),
            request,
            service="state",
            timeout=timeout or self.timeout,
            metadata=call_metadata(),
        )

    def reapply_proxy(self) -> int:
        reply = sync_call(
            self._proxy.Reapply,
            backups_internal_pb2.ReapplyRequest(),
            service="proxyctl",
            timeout=self.timeout,
            metadata=call_metadata(),
        )
        return int(reply.domains)

    def settings(self, prefix: str) -> dict[str, Any]:
        reply = self.state("GetSettings", backups_internal_pb2.GetSettingsRequest(prefix=prefix))
        return {key: json.loads(value) for key, value in reply.values.items()}

    def put_settings(self, values: dict[str, Any], actor: str) -> None:
        encoded = {key: "" if value is None else json.dumps(value) for key, value in values.items()}
        self.state("PutSettings", backups_internal_pb2.PutSettingsRequest(values=encoded, actor=actor))


def event(state: StateClient, type: str, subject: str, actor: str, **payload: Any) -> None:
    with contextlib.suppress(Exception):  # progress events must never fail the job
        state.stub.AppendEvent(
            state_pb2.StateAppendEventRequest(
                type=type, subject=subject, actor=actor or "system", payload_json=json.dumps(payload)
            ),
        )


# --- the service's domain -----------------------------------------------------------------------


class Backups:
    def __init__(
        self,
        *,
        settings: DeployerSettings,
        state: StateClient,
        internal: Internal,
        redis: Redis,
        docker_factory: Callable[[], Any],
        enqueue: Callable[[str], None],
        enqueue_deployment: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.enqueue_deployment = enqueue_deployment
        self.state = state
        self.internal = internal
        self.redis = redis
        self.docker_factory = docker_factory
        self.enqueue = enqueue
        self.folder = Folder(settings.data / "backups")

    # listing ---------------------------------------------------------------------------------

    def _live(self, record: Record) -> Record:
        if record.status == "running" and Busy.current(self.redis) != record.id:
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

    # creating --------------------------------------------------------------------------------

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
        Busy(self.redis, record.id).claim(BUSY_QUEUED_TTL)
        self.folder.save(record)
        try:
            self.enqueue(record.id)
        except Exception as exc:
            self.redis.delete(BUSY_KEY)
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
            with Busy(self.redis, backup_id):
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
            self.apply_retention()
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
        opted = {
            k.removeprefix(VOLUMES_PREFIX) for k, v in self.internal.settings(VOLUMES_PREFIX).items() if v
        }
        db_path = work / "appos.db"
        info = self.internal.state(
            "SnapshotDatabase", backups_internal_pb2.DatabasePath(path=str(db_path)), timeout=600
        )
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
                entries.append(archive.AppEntry(name=name, version=app.current_version if app else 0))
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
        if not chosen:
            return
        client = self.docker_factory()
        try:
            image = volumes.helper_image(client, self.settings.backup_helper_image)
            found = {entry.name: volumes.app_volumes(client, entry.name) for entry in chosen}
            names = [docker_name for vols in found.values() for _, docker_name, _ in vols]
            if not names:
                return
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

    # importing and restoring -----------------------------------------------------------------

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
            self.internal.state(
                "InspectDatabase",
                backups_internal_pb2.DatabasePath(path=str(work / archive.DB_MEMBER)),
                timeout=120,
            )
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

    def restore(self, backup_id: str, *, force: bool, actor: str) -> tuple[Record, list[str], list[str]]:
        record = self.get(backup_id)
        if record.status != "succeeded":
            raise FailedPrecondition(f"backup {backup_id} is {record.status}; only a finished one restores")
        owner = f"restore:{backup_id}"
        with Busy(self.redis, owner):
            work = self.folder.work_dir("restore")
            try:
                return record, *self._restore(self.folder.archive(backup_id), work, force=force, actor=actor)
            finally:
                shutil.rmtree(work, ignore_errors=True)

    def _restore(self, path: Path, work: Path, *, force: bool, actor: str) -> tuple[list[str], list[str]]:
        # 1. check everything; nothing of the install changes before step 2
        manifest = archive.extract_verified(path, work)
        db_file = work / archive.DB_MEMBER
        self.internal.state(
            "InspectDatabase", backups_internal_pb2.DatabasePath(path=str(db_file)), timeout=120
        )
        live = self.internal.state("InspectDatabase", backups_internal_pb2.DatabasePath())
        if not force and (live.apps or live.domains or live.tokens or live.users > 1):
            raise FailedPrecondition(
                f"this install is not empty ({live.apps} apps, {live.domains} domains, "
                f"{live.tokens} API tokens, {live.users} users): restore with force to replace it"
            )
        entries = [v for app in manifest.apps for v in app.volumes]
        for entry in entries:
            volumes.check_volume_tar(work / entry.file, entry.docker_name)
        client = self.docker_factory()
        try:
            image = volumes.helper_image(client, self.settings.backup_helper_image) if entries else ""
            volumes.preflight(client, entries, force=force, going_down=set(live.app_names))
            # 2. the current apps go down (force only: an empty install has none)
            for name in live.app_names:
                self._down(name)
            # 3. the database, the files, the certificates, the volumes
            event(
                self.state, "backup_restore_started", manifest.id, actor, apps=[a.name for a in manifest.apps]
            )
            self.internal.state(
                "RestoreDatabase", backups_internal_pb2.DatabasePath(path=str(db_file)), timeout=600
            )
            self._place_files(work, manifest, stale=list(live.app_names))
            volumes.import_volumes(client, image, [(e, work / e.file) for e in entries])
        finally:
            client.close()
        # 4. unfinished deployments of the snapshot end; every app is redeployed; Caddy reloads
        deployment_ids = self._redeploy(actor)
        try:
            self.internal.reapply_proxy()
        except Exception:  # noqa: BLE001 - proxyctl also reloads when Caddy restarts; say so, go on
            logger.warning("could not re-apply the proxy config after the restore", exc_info=True)
        apps = [a.name for a in manifest.apps]
        event(self.state, "backup_restored", manifest.id, actor, apps=apps, deployments=deployment_ids)
        return deployment_ids, apps

    def _down(self, app: str) -> None:
        project = compose.Project(
            name=compose.project_name(app),
            directory=self.settings.apps_dir / app,
            docker_host=self.settings.docker_host,
        )
        if not (project.directory / "compose.yaml").exists():
            return
        subprocess.run(
            project.command("down", "--remove-orphans"),
            env=project.env(),
            capture_output=True,
            timeout=300,
            check=False,
        )

    def _place_files(self, work: Path, manifest: archive.Manifest, *, stale: list[str]) -> None:
        apps_dir = self.settings.apps_dir
        apps_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        restored = {app.name for app in manifest.apps}
        for name in stale:
            if name not in restored:
                shutil.rmtree(apps_dir / name, ignore_errors=True)
        for name in sorted(restored):
            source = work / "apps" / name
            target = apps_dir / name
            if target.exists():
                shutil.rmtree(target)
            if source.is_dir():
                os.replace(source, target)
            else:
                target.mkdir(mode=0o700)
        caddy = work / "caddy"
        if caddy.is_dir():
            shutil.copytree(caddy, self.settings.data / "caddy", dirs_exist_ok=True)

    def _redeploy(self, actor: str) -> list[str]:
        unfinished = self.state.stub.ListDeployments(
            state_pb2.StateListDeploymentsRequest(statuses=["pending", "running"], page_size=1000),
        )
        for deployment in unfinished.deployments:
            with contextlib.suppress(Conflict, NotFound):
                self.state.stub.TransitionDeployment(
                    state_pb2.StateTransitionDeploymentRequest(
                        id=deployment.id,
                        from_statuses=["pending", "running"],
                        to_status="failed",
                        reason="interrupted: the install was restored from a backup",
                    ),
                )
        ids = []
        apps: list[apps_pb2.App] = list(self.state.stub.ListApps(state_pb2.StateListAppsRequest()).apps)
        for app in apps:
            if self._stopped_by_a_user(app.name):
                continue  # it was stopped when the backup was taken: it stays stopped
            created = self.state.stub.CreateDeployment(
                state_pb2.StateCreateDeploymentRequest(
                    app=app.name, action="redeploy", actor=actor, options_json="{}"
                ),
            )
            self.enqueue_deployment(created.deployment.id)
            ids.append(created.deployment.id)
        return ids

    def _stopped_by_a_user(self, app: str) -> bool:
        """Whether the app's last successful deployment was a stop."""
        last = self.state.stub.ListDeployments(
            state_pb2.StateListDeploymentsRequest(app=app, statuses=["succeeded"], page_size=1),
        ).deployments
        return bool(last) and last[0].action == "stop"

    # settings --------------------------------------------------------------------------------

    def read_settings(self) -> backups_pb2.BackupSettings:
        values = self.internal.settings("backup.")
        schedule = str(values.get(SETTING_SCHEDULE, ""))
        reply = backups_pb2.BackupSettings(
            retention=int(values.get(SETTING_RETENTION, DEFAULT_RETENTION)),
            schedule=schedule,
            include_volumes=bool(values.get(SETTING_INCLUDE_VOLUMES, True)),
        )
        last = values.get(SETTING_LAST_SCHEDULED)
        due = next_run(schedule, last=_from_us(last), now=datetime.now(UTC))
        if due is not None:
            set_ts(reply.next_run, int(due.timestamp() * 1_000_000))
        return reply

    def write_settings(self, request: backups_pb2.BackupSettings, actor: str) -> backups_pb2.BackupSettings:
        values: dict[str, Any] = {}
        if request.HasField("retention"):
            if not 0 <= request.retention <= 1000:
                raise InvalidArgument("retention must be between 0 (keep all) and 1000")
            values[SETTING_RETENTION] = request.retention
        if request.HasField("schedule"):
            values[SETTING_SCHEDULE] = validate_schedule(request.schedule.strip())
            values[SETTING_LAST_SCHEDULED] = None  # a new schedule starts from now
        if request.HasField("include_volumes"):
            values[SETTING_INCLUDE_VOLUMES] = request.include_volumes
        if values:
            self.internal.put_settings(values, actor)
        if request.HasField("retention"):
            self.apply_retention()
        return self.read_settings()

    def scheduled_tick(self) -> str | None:
        """Start the scheduled backup when it is due (the deployer calls this every few seconds)."""
        values = self.internal.settings("backup.")
        schedule = str(values.get(SETTING_SCHEDULE, ""))
        if not schedule:
            return None
        last = _from_us(values.get(SETTING_LAST_SCHEDULED))
        if last is None:  # a new schedule counts from now
            self.internal.put_settings({SETTING_LAST_SCHEDULED: now_us()}, "scheduler")
            return None
        due = next_run(schedule, last=last, now=datetime.now(UTC))
        if due is None or due > datetime.now(UTC):
            return None
        try:
            record = self.start(
                include_volumes=bool(values.get(SETTING_INCLUDE_VOLUMES, True)),
                message="scheduled",
                actor="scheduler",
                origin="schedule",
            )
        except Conflict:
            return None  # something runs: try on the next tick
        self.internal.put_settings({SETTING_LAST_SCHEDULED: now_us()}, "scheduler")
        return record.id

    def set_volume_opt_in(self, app: str, enabled: bool, actor: str) -> None:
        self.internal.put_settings({f"{VOLUMES_PREFIX}{app}": True if enabled else None}, actor)

    def restoring(self) -> str:
        """The backup being restored right now, or "" (also when Redis does not answer: then
        nothing can be queued anyway, and the caller says so)."""
        try:
            owner = Busy.current(self.redis)
        except RedisError:
            return ""
        return owner.removeprefix("restore:") if owner.startswith("restore:") else ""

    def volume_opt_ins(self) -> set[str]:
        return {
            k.removeprefix(VOLUMES_PREFIX) for k, v in self.internal.settings(VOLUMES_PREFIX).items() if v
        }


def _from_us(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(int(value) / 1_000_000, UTC)


def make_backups(
    *,
    settings: DeployerSettings,
    state: StateClient,
    redis: Redis,
    docker_factory: Callable[[], Any],
    celery: Any,
) -> Backups:
    """The Backups domain as the deployer and the worker both build it."""
    from services.common.queues import CREATE_BACKUP, QUEUE_OF, RUN_DEPLOYMENT

    return Backups(
        settings=settings,
        state=state,
        internal=Internal(settings),
        redis=redis,
        docker_factory=docker_factory,
        enqueue=lambda backup_id: celery.send_task(
            CREATE_BACKUP, args=[backup_id], queue=QUEUE_OF[CREATE_BACKUP]
        ),
        enqueue_deployment=lambda deployment_id: celery.send_task(
            RUN_DEPLOYMENT, args=[deployment_id], queue=QUEUE_OF[RUN_DEPLOYMENT]
        ),
    )
