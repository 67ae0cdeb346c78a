"""An `update` deployment in the worker, under the app's lock (`executor.run`), one step after another,
each a log line and an `update_step` event (app, deployment, step, status, message):

    snapshot   the version the app ran (P) and the digests its last good deployment recorded; the
               app's named volumes copied (as backups copy them) when it opted into volume backups
    pull       `docker compose pull <services>` of the new version while the old containers run;
               a failure ends here: the files on disk go back to P, a version equal to P (made as
               an automatic rollback) records the untouched containers, `update_failed`
    redeploy   `up --wait` as a deploy (healthchecks gate it)
    health     services without a healthcheck must still run after APPOS_UPDATE_SETTLE_SECONDS;
               then the app's update check runs again for what it now runs (`job.recheck_app`)
    rollback   after a failure of redeploy or health: the containers go (`down`, volumes kept), the
               snapshot is copied back, and a version equal to P, pinned to P's recorded digests
               (`images.py`), is deployed right here; `update_rolled_back`, or `update_failed`
               saying what state the app is in

The volumes are restored before the old version starts, not after: the old version never runs on
data the new one may have migrated. The snapshot (APPOS_DATA/updates/<deployment>/) is removed once
the update or its rollback succeeded, and kept (named in the log) when the restore failed.

However it ends, people are told once: `update_failed` or `update_rolled_back` (the update's
deployment and its rollback's carry REPORTED_BY, so their own failure notifies nobody)."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appos.v1 import apps_pb2, state_pb2
from services.common import engines
from services.common.errors import AppOSError, Conflict, NotFound
from services.deployer import compose, images, runtime, volumes
from services.deployer.archive import VolumeEntry
from services.deployer.updates.pull_logins import pull_logins, read_logins, registries_of

if TYPE_CHECKING:
    from services.deployer.executor import Executor, LogSink, Outcome

logger = logging.getLogger(__name__)

STEPS = ("snapshot", "pull", "redeploy", "health", "rollback")
# In the options of an update's deployment (`updates/start.py`) and of its rollback's: people hear of
# the outcome once, through the update's own event (`update_failed`, `update_rolled_back`); state
# marks those deployments' and the rollback version's events, and notifications leave them out.
REPORTED_BY = "update"


@dataclass(frozen=True)
class Plan:
    """What the API put in the deployment's options (`updates/start.py`)."""

    previous: int
    services: list[str]
    words: str
    snapshot_volumes: bool

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Plan:
        update = options.get("update") or {}
        targets = list(update.get("targets") or [])
        return cls(
            previous=int(update.get("previous") or 0),
            services=sorted(str(t["service"]) for t in targets),
            words=", ".join(f"{t['service']} {t['from']} → {t['to']}" for t in targets),
            snapshot_volumes=bool(update.get("snapshot_volumes", True)),
        )


@dataclass
class Snapshot:
    folder: Path
    entries: list[tuple[VolumeEntry, Path]]


# written once every volume is copied: a retried update (its worker was killed) keeps this snapshot,
# taken before anything changed, rather than copying what the new version may have migrated
_TAKEN = "snapshot.json"


def _taken(folder: Path) -> Snapshot | None:
    """The snapshot an earlier attempt of this update finished, if any."""
    try:
        listed = json.loads((folder / _TAKEN).read_text())
    except (OSError, ValueError):
        return None
    entries = [(entry, folder / entry.file) for entry in (VolumeEntry.model_validate(e) for e in listed)]
    return Snapshot(folder, entries)


class UpdateRun:
    def __init__(self, executor: Executor, deployment: apps_pb2.Deployment, sink: LogSink) -> None:
        self.ex = executor
        self.state = executor.state
        self.deployment = deployment
        self.app = deployment.app
        self.sink = sink
        self.at = ""  # the step under way
        self.server = engines.LOCAL  # the app's server, read when the run starts (issue 21)

    def engine(self) -> Any:
        """A client of the engine of the app's server."""
        return self.ex.engine_of(self.server)()

    # events and lines
    def step(self, step: str, status: str, message: str = "") -> None:
        self.at = step
        self.sink(f"update: {step} {status}{': ' + message if message else ''}")
        self.sink.flush()
        self._event("update_step", {"step": step, "status": status, "message": message})

    def _event(self, kind: str, payload: dict[str, Any]) -> None:
        body = {"app": self.app, "deployment": self.deployment.id, **payload}
        try:
            self.state.stub.AppendEvent(
                state_pb2.StateAppendEventRequest(
                    type=kind, subject=self.app, actor="deployer", payload_json=json.dumps(body)
                )
            )
        except AppOSError:
            logger.warning("app %s: could not record %s", self.app, kind, exc_info=True)

    # the run
    def perform(self, options: dict[str, Any]) -> Outcome:
        """The steps; every way the update can fail ends in one `update_failed` or
        `update_rolled_back` (its deployment's own failure notifies nobody: REPORTED_BY)."""
        from services.deployer.executor import Outcome

        plan = Plan.from_options(options)
        if not plan.previous or not plan.services:
            reason = "the update deployment names no version or service to update"
            self._event("update_failed", {"message": f"update of {self.app} failed: {reason}"})
            return Outcome("failed", reason)
        try:
            return self._steps(plan)
        except Exception as exc:  # the executor ends the deployment failed with it; people hear it here
            said = exc.message if isinstance(exc, AppOSError) else "internal error in the worker"
            where = f" at the {self.at} step" if self.at else ""
            self._event(
                "update_failed", {"message": f"update {plan.words} failed{where}: {said}", "step": self.at}
            )
            raise

    def _steps(self, plan: Plan) -> Outcome:
        from services.deployer.executor import Outcome

        record: state_pb2.AppRecord = self.state.stub.GetApp(state_pb2.StateGetAppRequest(name=self.app))
        self.server = record.app.server or engines.LOCAL
        if engines.is_remote(self.server):  # a server that is down fails the update before any step
            self.sink(f"the app runs on server {self.server}")
            self.ex.require_server(self.server)
        previous = self._version(plan.previous)
        snapshot = self._snapshot(plan)
        version = self._version(self.deployment.version)
        directory = self.ex.settings.apps_dir / self.app
        compose.write_files(directory, version.compose, version.env)
        project = self.ex.project_of(self.app, self.server)
        self.step("pull", "started", ", ".join(plan.services))
        try:
            config = self.ex.check_before_start(
                app=self.app, server=self.server, compose_text=version.compose, env_text=version.env,
                allowed=list(record.app.policy_exceptions), sink=self.sink,
            )  # fmt: skip
            self.ex.prepare_server(self.server, directory, self.sink)
            failed = self._pull(project, plan, config)
        except AppOSError as exc:
            failed = exc.message
        if failed:
            self.step("pull", "failed", failed)
            return self._back_untouched(plan, previous, failed, snapshot)
        self.step("pull", "succeeded")
        self.step("redeploy", "started")
        outcome = self.ex.up(deployment=self.deployment, project=project, sink=self.sink, config=config)
        if outcome.status != "succeeded":
            self.step("redeploy", "failed", outcome.reason)
            return self._roll_back(plan, outcome.reason, snapshot)
        self.step("redeploy", "succeeded")
        self.step("health", "started", f"settling for {self.ex.settings.update_settle_seconds:g} s")
        unhealthy = self._settle()
        if unhealthy:
            self.step("health", "failed", unhealthy)
            return self._roll_back(plan, unhealthy, snapshot)
        self.step("health", "succeeded")
        if snapshot is not None:
            shutil.rmtree(snapshot.folder, ignore_errors=True)
        ran = self.ex.running_images(self.app, config)
        if ran:
            self._recheck(ran)
        self._event("update_succeeded", {"message": plan.words, "version": self.deployment.version})
        return Outcome("succeeded", images=ran)

    def _version(self, number: int) -> apps_pb2.ConfigVersion:
        version: apps_pb2.ConfigVersion = self.state.stub.GetVersion(
            apps_pb2.GetVersionRequest(app=self.app, number=number)
        )
        return version

    # 1. snapshot
    def _snapshot(self, plan: Plan) -> Snapshot | None:
        self.step("snapshot", "started", f"v{plan.previous}")
        for ran in self._recorded(plan.previous):
            self.sink(f"v{plan.previous} ran {ran.service}: {ran.image} ({images.short(ran.digest)})")
        if not plan.snapshot_volumes or not self._opted_in():
            why = "not asked for" if not plan.snapshot_volumes else "the app did not opt into volume backups"
            self.step(
                "snapshot", "succeeded", f"v{plan.previous} and its digests; volumes not copied ({why})"
            )
            return None
        folder = self.ex.settings.data / "updates" / self.deployment.id
        kept = _taken(folder)
        if kept is not None:  # an earlier attempt's, taken before the new version ran: never again after
            copied = ", ".join(entry.name for entry, _ in kept.entries) or "none"
            self.step(
                "snapshot", "succeeded", f"v{plan.previous}: kept from the attempt before; volumes: {copied}"
            )
            return kept
        shutil.rmtree(folder, ignore_errors=True)  # half an attempt's copy: nothing had changed yet
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        entries: list[tuple[VolumeEntry, Path]] = []
        with contextlib.closing(self.engine()) as client:
            found = volumes.app_volumes(client, self.app)
            if found:
                helper_image = volumes.helper_image(client, self.ex.settings.backup_helper_image)
                names = [docker_name for _name, docker_name, _labels in found]
                with (
                    volumes.helper(client, helper_image, names, read_only=True) as helper,
                    volumes.paused(client, self.app),
                ):
                    for name, docker_name, labels in found:
                        tar = folder / f"{docker_name}.tar"
                        volumes.export_volume(helper, docker_name, tar)
                        entries.append(
                            (
                                VolumeEntry(name=name, docker_name=docker_name, labels=labels, file=tar.name),
                                tar,
                            )
                        )
        (folder / _TAKEN).write_text(json.dumps([entry.model_dump() for entry, _ in entries]))
        copied = ", ".join(entry.name for entry, _ in entries) or "none"
        self.step("snapshot", "succeeded", f"v{plan.previous} and its digests; volumes copied: {copied}")
        return Snapshot(folder, entries)

    def _recorded(self, number: int) -> list[images.ServiceImage]:
        reply: apps_pb2.ListDeploymentsReply = self.state.stub.ListDeployments(
            state_pb2.StateListDeploymentsRequest(
                app=self.app, version=number, statuses=["succeeded"], page_size=50
            )
        )
        found = images.newest_recorded(reply.deployments, number)
        return [images.ServiceImage.from_pb(i) for i in found.images] if found is not None else []

    def _opted_in(self) -> bool:
        try:
            setting: state_pb2.StateSetting = self.state.stub.GetSetting(
                state_pb2.StateGetSettingRequest(key=f"backup.volumes.{self.app}")
            )
        except NotFound:
            return False
        return bool(json.loads(setting.value_json or "false"))

    # 2. pull
    def _pull(self, project: compose.Project, plan: Plan, config: dict[str, Any]) -> str:
        """ "" when the images were pulled, else why not (the old containers still run)."""
        args = ["pull", *plan.services]
        self.sink(f"$ docker compose {' '.join(args)}")
        with pull_logins(settings=self.ex.settings, config=config, services=plan.services) as docker_config:
            env = project.env()
            if docker_config is not None:  # the stored logins of the images' registries, for this pull
                env["DOCKER_CONFIG"] = docker_config
            result = compose.run(
                project.command(*args), env=env, on_line=self.sink,
                should_stop=lambda: self.ex.cancel_requested(self.deployment.id),
                timeout=self.ex.settings.deploy_timeout_seconds,
            )  # fmt: skip
        if result.cancelled:
            return "cancelled while pulling"
        if result.timed_out:
            return f"pulling timed out after {self.ex.settings.deploy_timeout_seconds} s"
        if result.returncode == 0:
            return ""
        said = self.ex.pull_failure(self.server, config, self.sink.tail)
        errors = [line for line in self.sink.tail if "error" in line.lower()] or self.sink.tail[-1:]
        said = said or (errors[-1].strip() if errors else "docker compose pull failed")
        registries = ", ".join(sorted(registries_of(config=config, services=plan.services)))
        return f"pulling from registry {registries} failed: {said}" if registries else said

    # 4. health
    def _settle(self) -> str:
        """ "" when every container still runs (and none is unhealthy) after the settle period."""
        deadline = time.monotonic() + self.ex.settings.update_settle_seconds
        while True:
            with contextlib.closing(self.engine()) as client:
                services = runtime.app_containers(client, self.app)
            bad = [s for s in services if s["state"] != "running" or s["health"] == "unhealthy"]
            if bad or not services:
                return runtime.failure_reason(services) or "no container of the app is running"
            left = deadline - time.monotonic()
            if left <= 0:
                return ""
            time.sleep(min(0.25, left))

    # after success
    def _recheck(self, ran: list[images.ServiceImage]) -> None:
        """The app's update findings again, for what it runs now: the list and its badge stop offering
        the update just made without waiting for the next check (HEAD and tag-list requests only)."""
        from services.deployer.updates.job import recheck_app
        from services.deployer.updates.registry import RegistryClient  # httpx: only where checks run

        try:
            logins = read_logins(self.ex.settings)
            reply = recheck_app(
                state=self.state, make_client=lambda: RegistryClient(credentials=logins.get), app=self.app,
                running=[image.to_pb() for image in ran], actor=self.deployment.actor,
            )  # fmt: skip
        except AppOSError as exc:
            self.sink(f"update check of {self.app} not run again ({exc.message}): the next check will")
            return
        self.sink(f"update check of {self.app} again: {reply.updates} updates, {reply.unknown} unknown")

    # failure before any container changed
    def _back_untouched(
        self, plan: Plan, previous: apps_pb2.ConfigVersion, cause: str, snapshot: Snapshot | None
    ) -> Outcome:
        from services.deployer.executor import Outcome

        directory = self.ex.settings.apps_dir / self.app
        compose.write_files(directory, previous.compose, previous.env)
        self._files_back_on_server(directory)
        if snapshot is not None:
            shutil.rmtree(snapshot.folder, ignore_errors=True)
        note = f"nothing was stopped: the app still runs v{plan.previous}"
        try:
            reply = self._rollback_version(plan, cause)
        except (Conflict, NotFound):
            reply = None
            note += " (the app changed meanwhile: its current version was left as it is)"
        if reply is not None:
            back = reply.deployment.id
            ran = self.ex.running_images(self.app, {})
            self.state.stub.AppendDeploymentLog(
                state_pb2.StateAppendDeploymentLogRequest(
                    id=back,
                    lines=[
                        f"the update (deployment {self.deployment.id}) failed before any container changed; "
                        f"v{plan.previous}'s containers never stopped: nothing to run"
                    ],
                )
            )
            self.state.stub.TransitionDeployment(
                state_pb2.StateTransitionDeploymentRequest(
                    id=back, from_statuses=["pending"], to_status="succeeded",
                    images=[image.to_pb() for image in ran],
                )
            )  # fmt: skip
            note += f", current again as v{reply.version.number}"
        message = f"update {plan.words} failed: {cause}; {note}"
        self._event("update_failed", {"message": message, "step": "pull", "version": plan.previous})
        return Outcome("failed", f"{cause}; {note}")

    def _files_back_on_server(self, directory: Path) -> None:
        """The previous version's files on the app's remote server again (its containers never
        changed); a server that stopped answering gets them with the next deployment's copy."""
        if not engines.is_remote(self.server):
            return
        try:
            self.ex.prepare_server(self.server, directory, self.sink)
        except AppOSError as exc:
            self.sink(
                f"the previous files could not be copied back to server {self.server} ({exc.message}): "
                "the app's next deployment copies them"
            )

    def _rollback_version(self, plan: Plan, cause: str) -> apps_pb2.VersionReply:
        """A version equal to P, made as an automatic rollback (its deployment pins P's digests)."""
        previous = self._version(plan.previous)
        reply: apps_pb2.VersionReply = self.state.stub.CreateVersion(
            state_pb2.StateCreateVersionRequest(
                app=self.app, compose=previous.compose, env=previous.env, author="appos",
                message=f"back to v{plan.previous}: the update ({plan.words}) failed",
                source="auto_rollback", expected_version=self.deployment.version, deploy=True,
                rollback_to=plan.previous, rollback_cause=cause,
                options_json=json.dumps({"reported_by": REPORTED_BY}),  # the update says it once
            )
        )  # fmt: skip
        return reply

    # 5. roll back
    def _roll_back(self, plan: Plan, cause: str, snapshot: Snapshot | None) -> Outcome:
        from services.deployer.executor import Outcome

        self.step("rollback", "started", f"to v{plan.previous}")
        project = self.ex.project_of(self.app, self.server)
        restore_error = self._restore(project, snapshot) if snapshot is not None else ""
        try:
            reply = self._rollback_version(plan, cause)
        except (Conflict, NotFound):
            message = (
                f"update {plan.words} failed ({cause}); the app changed meanwhile, so it was not rolled back"
            )
            self.step("rollback", "failed", message)
            self._event("update_failed", {"message": message, "step": "rollback"})
            return Outcome("failed", message)
        back = reply.deployment.id
        self.sink(f"rolling back: v{reply.version.number} (equal to v{plan.previous}), deployment {back}")
        self.ex.run_nested(back)
        done: state_pb2.DeploymentRecord = self.state.stub.GetDeployment(
            apps_pb2.GetDeploymentRequest(id=back)
        )
        kept = f"; the volume snapshot is kept in {snapshot.folder}" if snapshot is not None else ""
        if done.deployment.status == "succeeded" and not restore_error:
            if snapshot is not None:
                shutil.rmtree(snapshot.folder, ignore_errors=True)
            ran = ", ".join(f"{i.service} {images.short(i.digest)}" for i in done.deployment.images)
            volumes_note = ", volumes restored" if snapshot is not None and snapshot.entries else ""
            message = (
                f"update {plan.words} failed ({cause}); rolled back to v{plan.previous} "
                f"(as v{reply.version.number}{volumes_note}): running {ran}"
            )
            self.step("rollback", "succeeded", message)
            self._event("update_rolled_back", {"message": message, "version": reply.version.number})
            return Outcome(
                "failed",
                f"{cause}; rolled back to v{plan.previous} (as v{reply.version.number}{volumes_note})",
            )
        app: state_pb2.AppRecord = self.state.stub.GetApp(state_pb2.StateGetAppRequest(name=self.app))
        what = restore_error or f"the rollback deployment failed: {done.deployment.reason}"
        status = app.app.status + (f": {app.app.status_message}" if app.app.status_message else "")
        message = (
            f"update {plan.words} failed ({cause}) and so did its rollback to v{plan.previous} ({what}); "
            f"the app is {status}{kept}"
        )
        self.step("rollback", "failed", message)
        self._event("update_failed", {"message": message, "step": "rollback"})
        return Outcome("failed", message)

    def _restore(self, project: compose.Project, snapshot: Snapshot) -> str:
        """The app's containers removed (volumes kept) and the snapshot copied back; "" or why not."""
        if not snapshot.entries:
            return ""
        self.sink("$ docker compose down --remove-orphans")
        result = compose.run(
            project.command("down", "--remove-orphans"), env=project.env(), on_line=self.sink,
            should_stop=lambda: False, timeout=self.ex.settings.deploy_timeout_seconds,
        )  # fmt: skip
        if result.returncode != 0:
            return "the app's containers could not be removed to restore its volumes"
        try:
            with contextlib.closing(self.engine()) as client:
                image = volumes.helper_image(client, self.ex.settings.backup_helper_image)
                volumes.import_volumes(client, image, snapshot.entries)
        except AppOSError as exc:
            return f"restoring the volumes failed: {exc.message}"
        self.sink(f"volumes restored: {', '.join(entry.name for entry, _ in snapshot.entries)}")
        return ""
