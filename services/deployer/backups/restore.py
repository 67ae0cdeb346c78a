"""Restoring a stored backup as a queued job of recorded steps.

`start` (the deployer's call) checks what is quick (the backup, an install that is not empty without
`force`), claims the guard as `restore:<backup id>`, writes the restore's record and queues the job.
The job (`run`, the worker's task) runs STEPS in order; each step is recorded as it starts and ends,
in `backups/restores/<id>.json` (a file, like the backups' sidecars: the database is one of the things
a restore replaces), with a `backup_restore_step` event each time.

Every step may run again after a crash: each redoes its work from what is on disk or skips what is
done already. A job whose worker died (kill -9 of the deployer) is resumed by `reconcile` once its
alive key expired, from its recorded step; a step whose part does not answer (state or Docker
restarting) is tried again for a while. After MAX_RUNS runs, or on an error that is not transient, the
restore ends `failed` naming the step. The previous install's database and app folders are moved to
`backups/restores/<id>/previous/` and kept until the restore succeeds.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis import Redis

from appos.v1 import apps_pb2, backups_pb2, state_pb2
from services.common import engines
from services.common.errors import (
    Conflict,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from services.common.state_client import StateClient
from services.common.timestamps import now_us, set_ts
from services.deployer import archive, compose, volumes
from services.deployer.backups.guard import BUSY_QUEUED_TTL, Guard
from services.deployer.backups.internal import Internal, event
from services.deployer.backups.store import Store, write_json
from services.deployer.settings import DeployerSettings

logger = logging.getLogger(__name__)

STEPS = (
    "check",  # unpack and check everything; the install does not change
    "stop_apps",  # the current apps go down (compose down, volumes kept)
    "move_aside",  # the current database (a snapshot) and app folders go to previous/
    "restore_database",
    "place_files",  # the backup's app folders and Caddy's storage
    "restore_volumes",
    "redeploy",  # unfinished deployments of the snapshot end; every app is redeployed
    "reload_proxy",
    "clean_up",  # the unpacked archive and previous/ go
)
FINISHED = ("succeeded", "failed")
# Runs of one restore: the first and the resumes after its worker stopped.
MAX_RUNS = 3
# How long a step is tried again while a part it needs does not answer.
TRANSIENT_SECONDS = 120.0
# A queued restore nobody has picked up for this long is queued again.
QUEUED_REQUEUE_SECONDS = 120
_ID = re.compile(r"^appos-restore-\d{8}T\d{6}Z-[0-9a-f]{6}$")
_RESTORED_MARK = "manifest.json"  # written into the work folder once the archive is unpacked and checked


def validate_restore_id(restore_id: str) -> str:
    if not _ID.fullmatch(restore_id):
        raise InvalidArgument("restore id must look like appos-restore-YYYYMMDDTHHMMSSZ-xxxxxx")
    return restore_id


def alive_key(restore_id: str) -> str:
    return f"appos:restore:{restore_id}:alive"


def guard_owner(backup_id: str) -> str:
    return f"restore:{backup_id}"


@dataclass
class Step:
    name: str
    status: str = "pending"
    started_at: int = 0
    finished_at: int = 0
    error: str = ""


@dataclass
class RestoreRecord:
    id: str
    backup_id: str
    force: bool = False
    actor: str = ""
    status: str = "queued"
    step: str = ""
    reason: str = ""
    created_at: int = 0
    finished_at: int = 0
    runs: int = 0
    steps: list[Step] = field(default_factory=lambda: [Step(name) for name in STEPS])
    going_down: list[str] = field(default_factory=list)
    apps: list[str] = field(default_factory=list)
    deployment_ids: list[str] = field(default_factory=list)
    previous: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RestoreRecord:
        steps = [Step(**s) for s in data.pop("steps", [])]
        return cls(**data, steps=steps)

    def step_named(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def to_pb(self) -> backups_pb2.Restore:
        pb = backups_pb2.Restore(
            id=self.id,
            backup_id=self.backup_id,
            status=self.status,
            step=self.step,
            reason=self.reason,
            force=self.force,
            actor=self.actor,
            apps=self.apps,
            deployment_ids=self.deployment_ids,
            runs=self.runs,
            previous=self.previous,
        )
        set_ts(pb.created_at, self.created_at or None)
        set_ts(pb.finished_at, self.finished_at or None)
        for step in self.steps:
            item = pb.steps.add(name=step.name, status=step.status, error=step.error)
            set_ts(item.started_at, step.started_at or None)
            set_ts(item.finished_at, step.finished_at or None)
        return pb


class RestoreFolder:
    """backups/restores: `<id>.json` per restore, and `<id>/` while it runs (`work/`: the unpacked
    archive; `previous/`: the install it replaces)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def record(self, restore_id: str) -> Path:
        return self.root / f"{validate_restore_id(restore_id)}.json"

    def dir(self, restore_id: str) -> Path:
        return self.root / validate_restore_id(restore_id)

    def work(self, restore_id: str) -> Path:
        return self.dir(restore_id) / "work"

    def previous(self, restore_id: str) -> Path:
        return self.dir(restore_id) / "previous"

    def save(self, record: RestoreRecord) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_json(self.record(record.id), asdict(record))

    def load(self, restore_id: str) -> RestoreRecord:
        try:
            return RestoreRecord.from_json(json.loads(self.record(restore_id).read_text()))
        except FileNotFoundError as exc:
            raise NotFound(f"restore {restore_id} does not exist") from exc

    def unfinished(self) -> list[RestoreRecord]:
        out = []
        for path in self.root.glob("appos-restore-*.json"):
            try:
                record = self.load(path.stem)
            except (ValueError, TypeError, OSError, InvalidArgument, NotFound) as exc:
                logger.warning("restore record %s is unreadable: %s", path.name, exc)
                continue
            if record.status not in FINISHED:
                out.append(record)
        return out


class Restorer:
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
        enqueue_deployment: Callable[[str, str], None],  # (deployment id, its app's server)
    ) -> None:
        self.settings = settings
        self.state = state
        self.internal = internal
        self.redis = redis
        self.store = store
        self.folder = RestoreFolder(store.folder.root / "restores")
        self.docker_factory = docker_factory
        self.enqueue = enqueue
        self.enqueue_deployment = enqueue_deployment
        self._running: set[str] = set()  # restores this process runs now
        self._running_lock = threading.Lock()
        self._wake = threading.Event()  # never set: waits that only a process's end cuts short

    # the deployer's side ---------------------------------------------------------------------

    def start(self, backup_id: str, *, force: bool, actor: str) -> RestoreRecord:
        """Check what is quick, claim the guard, record the restore and queue its job."""
        backup = self.store.get(backup_id)
        if backup.status != "succeeded":
            raise FailedPrecondition(f"backup {backup_id} is {backup.status}; only a finished one restores")
        if not force:
            self._refuse_a_non_empty_install()
        now = datetime.now(UTC)
        record = RestoreRecord(
            id=f"appos-restore-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}",
            backup_id=backup_id,
            force=force,
            actor=actor,
            created_at=now_us(),
            apps=[a["name"] for a in backup.apps or []],
        )
        guard = Guard(self.redis, guard_owner(backup_id))
        guard.claim(BUSY_QUEUED_TTL)
        self.folder.save(record)
        try:
            self.enqueue(record.id)
        except Exception as exc:
            guard.release()
            self.folder.record(record.id).unlink(missing_ok=True)
            raise FailedPrecondition("the task queue (redis) is unavailable; try again shortly") from exc
        event(self.state, "backup_restore_queued", backup_id, actor, restore=record.id, force=force)
        return record

    def get(self, restore_id: str) -> RestoreRecord:
        return self.folder.load(validate_restore_id(restore_id))

    def unfinished(self) -> list[RestoreRecord]:
        return self.folder.unfinished()

    def reconcile(self) -> None:
        """Queue again a restore whose job is gone: running without its alive key (its worker
        died), or queued and never picked up (the queue lost it). Run every few seconds."""
        for record in self.folder.unfinished():
            with self._running_lock:
                if record.id in self._running:
                    continue
            if self.redis.exists(alive_key(record.id)):
                continue
            waited = now_us() - record.created_at
            if record.status == "queued" and waited < QUEUED_REQUEUE_SECONDS * 1_000_000:
                continue
            gap = max(QUEUED_REQUEUE_SECONDS if record.status == "queued" else 0, 5)
            if self.redis.set(f"appos:restore:{record.id}:requeued", "1", nx=True, ex=gap):
                logger.warning(
                    "restore %s (%s, step %s) has no job; queued again",
                    record.id,
                    record.status,
                    record.step or "-",
                )
                self.enqueue(record.id)

    def _refuse_a_non_empty_install(self) -> list[str]:
        live = self.internal.inspect_database()
        if live.apps or live.domains or live.tokens or live.users > 1:
            raise FailedPrecondition(
                f"this install is not empty ({live.apps} apps, {live.domains} domains, "
                f"{live.tokens} API tokens, {live.users} users): restore with force to replace it"
            )
        return list(live.app_names)

    # the job ---------------------------------------------------------------------------------

    def run(self, restore_id: str) -> RestoreRecord | None:
        """The task: run (or resume) the restore's steps. Does nothing for a finished restore, or
        one that runs elsewhere (a redelivered task)."""
        try:
            record = self.get(restore_id)
        except NotFound:
            logger.warning("restore %s has no record; nothing to run", restore_id)
            return None
        if record.status in FINISHED:
            return record
        with self._running_lock:
            if restore_id in self._running:
                return record
            self._running.add(restore_id)
        try:
            alive = Guard(
                self.redis,
                f"{restore_id}:{secrets.token_hex(4)}",
                key=alive_key(restore_id),
                ttl=self.settings.heartbeat_ttl_seconds,
                keep_every=self.settings.heartbeat_seconds,
            )
            try:
                alive.claim(self.settings.heartbeat_ttl_seconds)
            except Conflict:
                logger.info("restore %s runs elsewhere", restore_id)
                return record
            with alive, Guard(self.redis, guard_owner(record.backup_id)):
                self._run(record)
        except Conflict as exc:  # the one-at-a-time guard is someone else's now
            if record.status == "queued" or record.step == "check":
                self._fail(record, record.step or "check", exc)
            else:  # the install is half restored: wait for the guard (the reconciler queues it again)
                logger.warning("restore %s waits for the guard: %s", restore_id, exc)
        finally:
            with self._running_lock:
                self._running.discard(restore_id)
        return record

    def _run(self, record: RestoreRecord) -> None:
        record.runs += 1
        if record.status == "queued":
            record.status = "running"
            event(self.state, "backup_restore_started", record.backup_id, record.actor, restore=record.id)
        elif record.runs > MAX_RUNS:
            self._fail(
                record,
                record.step or STEPS[0],
                FailedPrecondition(f"the worker stopped during this step {MAX_RUNS} times"),
            )
            return
        else:
            logger.warning("restore %s resumes at step %s (run %d)", record.id, record.step, record.runs)
        self.folder.save(record)
        for step in record.steps:
            if step.status == "done":
                continue
            record.step, step.status, step.started_at, step.error = step.name, "running", now_us(), ""
            self.folder.save(record)
            event(
                self.state,
                "backup_restore_step",
                record.backup_id,
                record.actor,
                restore=record.id,
                step=step.name,
                status="started",
                run=record.runs,
            )
            self._test_pause(record, step.name)
            try:
                self._with_retries(record, step.name)
            except Exception as exc:  # noqa: BLE001 - any error ends the restore, named with its step
                self._fail(record, step.name, exc)
                return
            step.status, step.finished_at = "done", now_us()
            self.folder.save(record)
            event(
                self.state,
                "backup_restore_step",
                record.backup_id,
                record.actor,
                restore=record.id,
                step=step.name,
                status="done",
            )
        record.status, record.finished_at = "succeeded", now_us()
        self.folder.save(record)
        event(
            self.state,
            "backup_restored",
            record.backup_id,
            record.actor,
            restore=record.id,
            apps=record.apps,
            deployments=record.deployment_ids,
        )

    def _with_retries(self, record: RestoreRecord, name: str) -> None:
        run = getattr(self, f"_step_{name}")
        deadline = time.monotonic() + TRANSIENT_SECONDS
        while True:
            try:
                run(record)
                return
            except (Unavailable, DeadlineExceeded) as exc:
                if time.monotonic() > deadline:
                    raise
                logger.warning("restore %s: step %s: %s; trying again", record.id, name, exc)
                self._wake.wait(1.0)

    def _fail(self, record: RestoreRecord, name: str, exc: Exception) -> None:
        error = getattr(exc, "message", "") or f"{type(exc).__name__}: {exc}"
        logger.warning(
            "restore %s failed at step %s: %s", record.id, name, error, exc_info=not hasattr(exc, "message")
        )
        step = record.step_named(name)
        step.status, step.finished_at, step.error = "failed", now_us(), error[:500]
        reason = f"step {name} failed: {error}"
        if record.previous:
            reason += f"; the previous install's database and app folders are kept in {record.previous}"
        record.status, record.step, record.reason, record.finished_at = (
            "failed",
            name,
            reason[:1000],
            now_us(),
        )
        self.folder.save(record)
        shutil.rmtree(self.folder.work(record.id), ignore_errors=True)
        if not record.previous:
            shutil.rmtree(self.folder.dir(record.id), ignore_errors=True)
        event(
            self.state,
            "backup_restore_failed",
            record.backup_id,
            record.actor,
            restore=record.id,
            step=name,
            reason=record.reason,
        )

    def _test_pause(self, record: RestoreRecord, name: str) -> None:
        """Tests only (APPOS_TEST_RESTORE_PAUSE_AT=<step>): once per restore, the step waits after it
        was recorded until `<id>/resume-<step>` exists, having written `<id>/paused-<step>`, so a
        test can kill a part at a known step. A resumed job does not pause again."""
        if self.settings.test_restore_pause_at != name:
            return
        folder = self.folder.dir(record.id)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        paused = folder / f"paused-{name}"
        if paused.exists():
            return
        paused.touch()
        logger.warning("restore %s pauses at step %s (APPOS_TEST_RESTORE_PAUSE_AT)", record.id, name)
        while not (folder / f"resume-{name}").exists():
            self._wake.wait(0.05)

    # the steps: each may run again after a crash, from what is on disk ---------------------------

    def _unpacked(self, record: RestoreRecord) -> tuple[Path, archive.Manifest]:
        """The archive unpacked and checked in the work folder (again, if it went)."""
        work = self.folder.work(record.id)
        mark = work / _RESTORED_MARK
        if mark.exists():
            return work, archive.Manifest.model_validate_json(mark.read_text())
        shutil.rmtree(work, ignore_errors=True)
        manifest = archive.extract_verified(self.store.folder.archive(record.backup_id), work)
        self.internal.inspect_database(str(work / archive.DB_MEMBER))
        for entry in (v for app in manifest.apps for v in app.volumes):
            volumes.check_volume_tar(work / entry.file, entry.docker_name)
        write_json(mark, json.loads(manifest.model_dump_json()))
        return work, manifest

    def _step_check(self, record: RestoreRecord) -> None:
        shutil.rmtree(self.folder.work(record.id), ignore_errors=True)  # nothing changed yet: from the start
        _work, manifest = self._unpacked(record)
        if record.force:
            live = self.internal.inspect_database()
            going_down = list(live.app_names)
        else:
            going_down = self._refuse_a_non_empty_install()
        for server, entries in _volumes_by_server(manifest).items():
            client = self._engine(server)()
            try:
                volumes.helper_image(client, self.settings.backup_helper_image)
                volumes.preflight(client, entries, force=record.force, going_down=set(going_down))
            finally:
                client.close()
        record.going_down, record.apps = going_down, [a.name for a in manifest.apps]

    def _engine(self, server: str) -> Callable[[], Any]:
        """A client factory for the server's engine (`local`: this machine's)."""
        return engines.factory_for(server, sockets=self.settings.sockets, local=self.docker_factory)

    def _step_stop_apps(self, record: RestoreRecord) -> None:
        # the install's own state still (the database is replaced two steps later): where each runs
        apps = self.state.stub.ListApps(state_pb2.StateListAppsRequest()).apps
        server_of = {app.name: app.server for app in apps}
        for name in record.going_down:
            server = server_of.get(name, "")
            project = compose.Project(
                name=compose.project_name(name),
                directory=self.settings.apps_dir / name,
                docker_host=engines.docker_host(self.settings.sockets, server, self.settings.docker_host),
            )
            if not (project.directory / "compose.yaml").exists():
                continue  # never deployed, or moved aside by an earlier run
            done = subprocess.run(
                project.command("down", "--remove-orphans"),
                env=project.env(),
                capture_output=True,
                timeout=300,
                check=False,
            )
            if done.returncode != 0:
                logger.warning("restore %s: compose down of %s: %s", record.id, name, done.stderr[-500:])

    def _step_move_aside(self, record: RestoreRecord) -> None:
        previous = self.folder.previous(record.id)
        (previous / "apps").mkdir(parents=True, exist_ok=True, mode=0o700)
        record.previous = str(previous)
        self.folder.save(record)
        snapshot, taken = previous / "appos.db", previous / "appos.db.taken"
        if not taken.exists():  # the database is still the install's own until the next step
            snapshot.unlink(missing_ok=True)
            self.internal.snapshot_database(str(snapshot))
            taken.touch()
        apps_dir = self.settings.apps_dir
        apps_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for child in sorted(apps_dir.iterdir()):
            target = previous / "apps" / child.name
            if target.exists():  # cannot happen with renames; never overwrite what was kept
                raise FailedPrecondition(f"{target} exists already")
            os.replace(child, target)

    def _step_restore_database(self, record: RestoreRecord) -> None:
        work, _manifest = self._unpacked(record)
        self.internal.restore_database(str(work / archive.DB_MEMBER))

    def _step_place_files(self, record: RestoreRecord) -> None:
        work, manifest = self._unpacked(record)
        apps_dir = self.settings.apps_dir
        for name in sorted(app.name for app in manifest.apps):
            source, target = work / "apps" / name, apps_dir / name
            if source.is_dir():
                if target.exists():  # half placed by an earlier run: the install's own is aside
                    shutil.rmtree(target)
                os.replace(source, target)
            elif not target.exists():
                target.mkdir(mode=0o700)
        caddy = work / "caddy"
        if caddy.is_dir():
            shutil.copytree(caddy, self.settings.data / "caddy", dirs_exist_ok=True)

    def _step_restore_volumes(self, record: RestoreRecord) -> None:
        work, manifest = self._unpacked(record)
        for server, entries in _volumes_by_server(manifest).items():
            client = self._engine(server)()
            try:
                image = volumes.helper_image(client, self.settings.backup_helper_image)
                volumes.import_volumes(client, image, [(e, work / e.file) for e in entries])
            finally:
                client.close()

    def _step_redeploy(self, record: RestoreRecord) -> None:
        """Unfinished deployments (of the snapshot, or left by an earlier run before it recorded
        them) are failed; each app without a redeploy of this restore yet gets one."""
        mine = set(record.deployment_ids)
        unfinished = self.state.stub.ListDeployments(
            state_pb2.StateListDeploymentsRequest(statuses=["pending", "running"], page_size=1000),
        )
        for deployment in unfinished.deployments:
            if deployment.id in mine:
                continue
            try:
                self.state.stub.TransitionDeployment(
                    state_pb2.StateTransitionDeploymentRequest(
                        id=deployment.id,
                        from_statuses=["pending", "running"],
                        to_status="failed",
                        reason="interrupted: the install was restored from a backup",
                    ),
                )
            except (Conflict, NotFound):
                logger.info("deployment %s ended by itself during the restore", deployment.id)
        redeployed = {d.app for d in self._deployments(record.deployment_ids)}
        apps: list[apps_pb2.App] = list(self.state.stub.ListApps(state_pb2.StateListAppsRequest()).apps)
        for app in apps:
            if app.name in redeployed or self._stopped_by_a_user(app.name):
                continue  # queued by an earlier run; or stopped when the backup was taken: stays stopped
            created = self.state.stub.CreateDeployment(
                state_pb2.StateCreateDeploymentRequest(
                    app=app.name, action="redeploy", actor=record.actor, options_json="{}"
                ),
            )
            record.deployment_ids.append(created.deployment.id)
            self.folder.save(record)
            self.enqueue_deployment(created.deployment.id, app.server)

    def _deployments(self, ids: list[str]) -> list[apps_pb2.Deployment]:
        found = []
        for deployment_id in ids:
            try:
                reply = self.state.stub.GetDeployment(apps_pb2.GetDeploymentRequest(id=deployment_id))
            except NotFound:
                continue
            found.append(reply.deployment)
        return found

    def _stopped_by_a_user(self, app: str) -> bool:
        """Whether the app's last successful deployment was a stop."""
        last = self.state.stub.ListDeployments(
            state_pb2.StateListDeploymentsRequest(app=app, statuses=["succeeded"], page_size=1),
        ).deployments
        return bool(last) and last[0].action == "stop"

    def _step_reload_proxy(self, record: RestoreRecord) -> None:
        try:
            self.internal.reapply_proxy()
        except Exception as exc:  # noqa: BLE001 - proxyctl also reloads when Caddy restarts; say so, go on
            logger.warning("restore %s: could not re-apply the proxy config: %s", record.id, exc)

    def _step_clean_up(self, record: RestoreRecord) -> None:
        shutil.rmtree(self.folder.dir(record.id), ignore_errors=True)
        record.previous = ""


def _volumes_by_server(manifest: archive.Manifest) -> dict[str, list[archive.VolumeEntry]]:
    """The backup's volumes by the server their app ran on (`local` for this machine)."""
    found: dict[str, list[archive.VolumeEntry]] = {}
    for app in manifest.apps:
        if app.volumes:
            found.setdefault(app.server or engines.LOCAL, []).extend(app.volumes)
    return found
