"""Running one deployment, in the worker: the per-app lock, the state transitions, Compose, the
output as log lines, the outcome with a reason people can act on."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import docker.errors
import requests
from redis import Redis
from redis.exceptions import LockError, RedisError

from appos.v1 import apps_pb2, state_pb2
from services.common import engines
from services.common.errors import AppOSError, Conflict, FailedPrecondition, InvalidArgument, NotFound
from services.common.state_client import StateClient
from services.deployer import compose, engine, images, ports, runtime, validation
from services.deployer.settings import DeployerSettings
from services.deployer.update_run import UpdateRun

logger = logging.getLogger(__name__)

TERMINAL = ("succeeded", "failed", "cancelled")
# Actions that make Compose create or start containers: the policy runs again before each.
STARTS_CONTAINERS = ("deploy", "redeploy", "start", "restart")
LOCK_TTL = 60


def alive_key(deployment_id: str) -> str:
    return f"appos:deployment:{deployment_id}:alive"


def cancel_key(deployment_id: str) -> str:
    return f"appos:deployment:{deployment_id}:cancel"


def lock_name(app: str) -> str:
    return f"appos:lock:app:{app}"


class Heartbeat:
    """While a deployment is being handled: says so in Redis and keeps the app lock."""

    def __init__(self, redis: Redis, deployment_id: str, *, every: float, ttl: int) -> None:
        self._redis = redis
        self._key = alive_key(deployment_id)
        self._every = every
        self._ttl = ttl
        self._stop = threading.Event()
        self.lock: Any = None
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{deployment_id[:8]}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self._redis.delete(self._key)
        except RedisError:
            logger.warning("could not clear %s", self._key)

    def _beat(self) -> None:
        self._redis.set(self._key, "1", ex=self._ttl)
        if self.lock is not None and self.lock.owned():
            self.lock.reacquire()

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._beat()
            except (RedisError, LockError):
                logger.warning("heartbeat failed for %s", self._key, exc_info=True)


class LogSink:
    """Batches output lines into state: at most every 0.25 s or 100 lines, and at the end."""

    def __init__(self, state: StateClient, deployment_id: str) -> None:
        self._state = state
        self._id = deployment_id
        self._lines: list[str] = []
        self._last_flush = time.monotonic()
        self.tail: list[str] = []

    def __call__(self, line: str) -> None:
        if not line.strip():
            return
        self._lines.append(line)
        self.tail = [*self.tail[-19:], line]
        if len(self._lines) >= 100 or time.monotonic() - self._last_flush > 0.25:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            lines, self._lines = self._lines, []
            self._state.stub.AppendDeploymentLog(
                state_pb2.StateAppendDeploymentLogRequest(id=self._id, lines=lines)
            )
        self._last_flush = time.monotonic()


@dataclass
class Outcome:
    status: str
    reason: str = ""
    # what a deployment that started containers ran (state keeps it when it succeeded)
    images: list[images.ServiceImage] = field(default_factory=list)
    server: str = ""  # the app's server, when the run read it


class RemoteServers(Protocol):
    """The remote servers as a deployment needs them (servers/manager.py)."""

    def require_answering(self, server: str) -> None:
        """Unavailable, naming the server and why, unless its engine answers now."""

    def explain(self, server: str) -> str:
        """Why its engine does not answer, when its connection knows; "" otherwise."""

    def sync_folder(self, server: str, folder: Path) -> None:
        """The app's folder to the same path on the server."""


class Executor:
    def __init__(
        self,
        *,
        settings: DeployerSettings,
        state: StateClient,
        redis: Redis,
        docker_factory: Callable[[], Any],
        enqueue: Callable[[str, str], None],  # (deployment id, its app's server)
        servers: RemoteServers | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.redis = redis
        self.docker_factory = docker_factory  # the local engine's
        self.enqueue = enqueue
        self.servers = servers

    def engine_of(self, server: str) -> Callable[[], Any]:
        """A client factory for the engine of `server` (issue 21): the local one, or the socket its
        SSH connection forwards."""
        return engines.factory_for(server, sockets=self.settings.sockets, local=self.docker_factory)

    def server_of(self, app: str) -> str:
        """The server the app runs on (`local` for one state no longer knows)."""
        try:
            return engine.server_of(self.state, app)
        except NotFound:
            return engines.LOCAL

    # the task body
    def run(self, deployment_id: str) -> None:
        record: state_pb2.DeploymentRecord = self.state.stub.GetDeployment(
            apps_pb2.GetDeploymentRequest(id=deployment_id)
        )
        deployment = record.deployment
        if deployment.status != "pending":
            logger.info("deployment %s is %s; nothing to do", deployment_id, deployment.status)
            return
        hb = Heartbeat(
            self.redis,
            deployment_id,
            every=self.settings.heartbeat_seconds,
            ttl=self.settings.heartbeat_ttl_seconds,
        )
        with hb:
            lock = self.redis.lock(lock_name(deployment.app), timeout=LOCK_TTL, thread_local=False)
            if not lock.acquire(blocking=True, blocking_timeout=self.settings.deploy_timeout_seconds):
                self._finish(
                    deployment_id,
                    ["pending"],
                    Outcome("failed", "another deployment of this app did not end in time"),
                )
                return
            hb.lock = lock
            try:
                self._run_locked(deployment_id, json.loads(record.options_json or "{}"))
            finally:
                hb.lock = None
                try:
                    lock.release()
                except LockError:
                    logger.warning("lock of %s expired before release", deployment.app)

    def _run_locked(self, deployment_id: str, options: dict[str, Any]) -> None:
        try:
            deployment: apps_pb2.Deployment = self.state.stub.TransitionDeployment(
                state_pb2.StateTransitionDeploymentRequest(
                    id=deployment_id, from_statuses=["pending"], to_status="running", new_attempt=True
                ),
            )
        except Conflict:
            logger.info("deployment %s was taken or cancelled meanwhile", deployment_id)
            return
        sink = LogSink(self.state, deployment_id)
        try:
            outcome = self._perform(deployment, options, sink)
        except AppOSError as exc:
            outcome = Outcome("failed", exc.message)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            outcome = Outcome("failed", self._engine_failed(deployment.app, exc))
        except Exception:  # noqa: BLE001 - a deployment must end, whatever happened
            logger.exception("deployment %s crashed", deployment_id)
            outcome = Outcome("failed", "internal error in the worker (its log has the details)")
        finally:
            try:
                sink.flush()
            except AppOSError:
                logger.warning("could not write the last log lines of %s", deployment_id)
        if outcome.status == "failed" and deployment.action in ("deploy", "redeploy"):
            note = self._auto_rollback(deployment, outcome.reason)
            if note:
                outcome.reason = f"{outcome.reason}; {note}"
        self._finish(deployment_id, ["running"], outcome)
        # the watcher follows Docker's events too; this makes the final status certain
        if deployment.action != "remove" or outcome.status != "succeeded":
            try:
                self.refresh_app(deployment.app, outcome.server)
            except (docker.errors.DockerException, requests.RequestException):
                logger.warning(
                    "app %s: its engine did not answer after deployment %s",
                    deployment.app,
                    deployment_id,
                    exc_info=True,
                )

    def _finish(self, deployment_id: str, from_statuses: list[str], outcome: Outcome) -> None:
        try:
            self.state.stub.TransitionDeployment(
                state_pb2.StateTransitionDeploymentRequest(
                    id=deployment_id,
                    from_statuses=from_statuses,
                    to_status=outcome.status,
                    reason=outcome.reason,
                    images=[image.to_pb() for image in outcome.images],
                ),
            )
        except Conflict:
            logger.warning(
                "deployment %s was moved by someone else; outcome %s dropped", deployment_id, outcome
            )
        self.redis.delete(cancel_key(deployment_id))

    def _perform(self, deployment: apps_pb2.Deployment, options: dict[str, Any], sink: LogSink) -> Outcome:
        if deployment.action == "update":  # its own steps, with a rollback of images and volumes
            return UpdateRun(self, deployment, sink).perform(options)
        record: state_pb2.AppRecord = self.state.stub.GetApp(
            state_pb2.StateGetAppRequest(name=deployment.app)
        )
        compose_text, env_text = record.compose, record.env
        version: apps_pb2.ConfigVersion | None = None
        if deployment.action in ("deploy", "redeploy") and deployment.version:
            # the version this deployment applies, even if a newer one was stored meanwhile
            version = self.state.stub.GetVersion(
                apps_pb2.GetVersionRequest(app=deployment.app, number=deployment.version)
            )
            compose_text, env_text = version.compose, version.env
        directory = self.settings.apps_dir / deployment.app
        compose.write_files(directory, compose_text, env_text)
        server = record.app.server or engines.LOCAL
        if engines.is_remote(server):  # a server that is down fails its deployments at once
            self._remote(server).require_answering(server)
        config: dict[str, Any] = {}
        pinned: dict[str, images.ServiceImage] = {}
        with contextlib.ExitStack() as stack:
            client = None  # one client of the server's engine: the checks, then what the deployment ran
            if deployment.action in STARTS_CONTAINERS:
                client = stack.enter_context(contextlib.closing(self.engine_of(server)()))
                allowed = list(record.app.policy_exceptions)
                config = self._check_policy(client, deployment.app, compose_text, env_text, allowed, sink)
                self._check_ports(client, deployment.app, config, sink, remote=engines.is_remote(server))
                pinned = self._pins(client, deployment, version, config, sink)
            if engines.is_remote(server) and deployment.action != "remove":
                sink(f"copying the app's files to server {server}")
                self._remote(server).sync_folder(server, directory)
            with images.override_files(pinned) as overrides:
                project = compose.Project(
                    name=compose.project_name(deployment.app),
                    directory=directory,
                    docker_host=engines.docker_host(self.settings.sockets, server, self.settings.docker_host),
                    overrides=overrides,
                )
                # a failure names the images Compose was asked to run (pinned ones by digest)
                outcome = self._compose(deployment, project, options, sink, images.applied(config, pinned))
            if outcome.status == "succeeded" and deployment.action in images.RECORDS_IMAGES:
                outcome.images = self.running_images(deployment.app, config, server=server, client=client)
        outcome.server = server
        return outcome

    def _remote(self, server: str) -> RemoteServers:
        if self.servers is None:
            raise FailedPrecondition(f"the app runs on server {server}, which this worker cannot reach")
        return self.servers

    def _engine_failed(self, app: str, exc: Exception) -> str:
        """A deployment's reason when its engine stopped answering: for a remote server, what its
        connection says (`server far is connecting: … cannot be reached`)."""
        server = self.server_of(app)
        said = self.servers.explain(server) if self.servers and engines.is_remote(server) else ""
        return said or f"the Docker engine of server {server} did not answer ({type(exc).__name__})"

    # what an update's run (`update_run.py`) does as a deployment does it
    def check_before_start(
        self, *, app: str, server: str, compose_text: str, env_text: str, allowed: list[str], sink: LogSink
    ) -> dict[str, Any]:
        """The checks a deployment that starts containers passes right before Compose runs (the
        compose policy against the files on disk, every published port free on the engine of the
        app's `server`); the config to run."""
        with contextlib.closing(self.engine_of(server)()) as client:
            config = self._check_policy(client, app, compose_text, env_text, allowed, sink)
            self._check_ports(client, app, config, sink, remote=engines.is_remote(server))
        return config

    def project_of(self, app: str, server: str) -> compose.Project:
        """The app's Compose project on the engine of its `server` (its folder as written on disk)."""
        return compose.Project(
            name=compose.project_name(app),
            directory=self.settings.apps_dir / app,
            docker_host=engines.docker_host(self.settings.sockets, server, self.settings.docker_host),
        )

    def require_server(self, server: str) -> None:
        """Unavailable, naming the server and why, unless its engine answers now (`local`: nothing)."""
        if engines.is_remote(server):
            self._remote(server).require_answering(server)

    def prepare_server(self, server: str, directory: Path, sink: LogSink) -> None:
        """Before Compose runs for an app on a remote server: the server answers (Unavailable naming
        it and why otherwise) and the app's folder is copied to it. Nothing for `local`."""
        if not engines.is_remote(server):
            return
        self.require_server(server)
        sink(f"copying the app's files to server {server}")
        self._remote(server).sync_folder(server, directory)

    def up(
        self, *, deployment: apps_pb2.Deployment, project: compose.Project, sink: LogSink,
        config: dict[str, Any],
    ) -> Outcome:  # fmt: skip
        """`up --detach --wait --remove-orphans` of the project's files, as a deploy runs it (the
        deployment's cancel key stops it)."""
        deploy = apps_pb2.Deployment()
        deploy.CopyFrom(deployment)
        deploy.action = "deploy"
        return self._compose(deploy, project, {}, sink, config)

    def running_images(
        self, app: str, config: dict[str, Any], *, server: str = "", client: Any = None
    ) -> list[images.ServiceImage]:
        """What the app's services run now, read through `client` (of the engine of the app's
        `server`) when given; an engine that does not answer records nothing (the deployment
        succeeded all the same)."""
        try:
            if client is not None:
                return images.read(client, app, config)
            with contextlib.closing(self.engine_of(server or self.server_of(app))()) as made:
                return images.read(made, app, config)
        except (docker.errors.DockerException, requests.RequestException):
            logger.warning("app %s: the images it runs could not be read", app, exc_info=True)
            return []

    def pull_failure(self, server: str, config: dict[str, Any], tail: list[str]) -> str:
        """Why a pull on `server`'s engine failed in words (which images are missing, what Docker
        said), or ""."""
        with contextlib.closing(self.engine_of(server)()) as client:
            return _pull_failure(client, config, tail)

    def cancel_requested(self, deployment_id: str) -> bool:
        return bool(self.redis.exists(cancel_key(deployment_id)))

    def run_nested(self, deployment_id: str) -> None:
        """Run a pending deployment of an app whose lock the caller already holds (an update's
        rollback, inside the update's own run): with its heartbeat, as `run` runs one."""
        record: state_pb2.DeploymentRecord = self.state.stub.GetDeployment(
            apps_pb2.GetDeploymentRequest(id=deployment_id)
        )
        with Heartbeat(
            self.redis, deployment_id, every=self.settings.heartbeat_seconds,
            ttl=self.settings.heartbeat_ttl_seconds,
        ):  # fmt: skip
            self._run_locked(deployment_id, json.loads(record.options_json or "{}"))

    def _compose(
        self, deployment: apps_pb2.Deployment, project: compose.Project, options: dict[str, Any],
        sink: LogSink, config: dict[str, Any],
    ) -> Outcome:  # fmt: skip
        """Run the action's Compose command; its outcome."""
        timeout = self.settings.deploy_timeout_seconds
        wait = ["--detach", "--wait", "--wait-timeout", str(timeout)]
        args = {
            "deploy": ["up", *wait, "--remove-orphans"],
            "redeploy": ["up", *wait, "--remove-orphans", "--force-recreate"],
            "start": ["up", *wait, "--no-recreate"],
            "stop": ["stop"],
            "restart": ["restart"],
            "remove": ["down", "--remove-orphans", *(["--volumes"] if options.get("remove_volumes") else [])],
        }[deployment.action]
        sink(f"$ docker compose {' '.join(args)}")
        checked = {"at": 0.0, "cancel": False}

        def should_stop() -> bool:
            now = time.monotonic()
            if now - checked["at"] > 0.5:
                checked["at"] = now
                checked["cancel"] = bool(self.redis.exists(cancel_key(deployment.id)))
            return bool(checked["cancel"])

        result = compose.run(
            project.command(*args),
            env=project.env(),
            on_line=sink,
            should_stop=should_stop,
            timeout=timeout + 30,
        )
        if result.cancelled:
            return Outcome("cancelled", "cancelled while running; the compose process was stopped")
        if result.timed_out:
            return Outcome("failed", f"timed out after {timeout} s; the compose process was stopped")
        if result.returncode != 0:
            return Outcome("failed", self._failure_reason(deployment.app, sink, config))
        if deployment.action == "remove":
            shutil.rmtree(project.directory, ignore_errors=True)
            try:
                self.state.stub.DeleteApp(
                    state_pb2.StateDeleteAppRequest(name=deployment.app, actor=deployment.actor)
                )
            except NotFound:
                pass
        return Outcome("succeeded")

    def _check_policy(
        self, client: Any, app: str, compose_text: str, env_text: str, allowed: list[str], sink: LogSink
    ) -> dict[str, Any]:
        """The compose policy again, against the file system as it is now, with the app's exceptions
        as they are now: containers can plant symlinks in what they mount, and an admin may have
        withdrawn an exception since the version was saved."""
        existing = runtime.bind_mounts(client, app)
        try:
            config = validation.check_run(
                name=app, compose_text=compose_text, env_text=env_text, apps_dir=self.settings.apps_dir,
                allowed=allowed, existing=existing,
            )  # fmt: skip
        except InvalidArgument as exc:
            sink(f"refused: {exc.message}")
            raise InvalidArgument(f"refused before Compose ran: {exc.message}") from exc
        sink("compose policy: checked against the files on disk")
        return config

    def _pins(
        self, client: Any, deployment: apps_pb2.Deployment, version: apps_pb2.ConfigVersion | None,
        config: dict[str, Any], sink: LogSink,
    ) -> dict[str, images.ServiceImage]:  # fmt: skip
        """For a version made by a rollback (deployed, redeployed or started): the images the version
        it copies ran, by service, each still on the engine or pullable by its registry digest."""
        if deployment.action == "restart" or not deployment.version:
            return {}  # `compose restart` creates nothing: the containers keep their images
        if version is None:
            version = self.state.stub.GetVersion(
                apps_pb2.GetVersionRequest(app=deployment.app, number=deployment.version)
            )
        pins = images.pins_for(state=self.state, app=deployment.app, version=version)
        if pins is None:
            if version.rollback_to:
                sink(f"no images were recorded for v{version.rollback_to}: its tags run as written")
            return {}
        pinned = images.pinnable(config, pins)
        try:
            images.refuse_missing(client, pinned, version=pins.version)
            refs = {service: image.pinned() for service, image in pinned.items()}
        except AppOSError as exc:
            sink(f"refused: {exc.message}")
            raise FailedPrecondition(
                f"refused before Compose ran (nothing was stopped): {exc.message}"
            ) from exc
        for service, ref in refs.items():
            sink(f"service {service}: runs {pinned[service].image} as v{pins.version} ran it ({ref})")
        for service in sorted(set(pins.images) - set(pinned)):
            sink(f"service {service}: not pinned (it builds its image or names another): runs as written")
        return pinned

    def _check_ports(
        self, client: Any, app: str, config: dict[str, Any], sink: LogSink, *, remote: bool = False
    ) -> None:
        """Every host port the version publishes is free (or the app's own) right before Compose
        runs: Compose stops the old container before it finds the port taken. On a remote server
        only its engine's containers are known (AppOS's own ports and this machine's listeners are
        not there)."""
        holders = ports.Holders(
            own_ports={} if remote else self.settings.own_ports(), client=client, local_listeners=not remote,
            for_app=app,
        )  # fmt: skip
        try:
            ports.refuse_taken(config, holders, app=app)
        except FailedPrecondition as exc:
            sink(f"refused: {exc.message}")
            raise FailedPrecondition(
                f"refused before Compose ran (nothing was stopped): {exc.message}"
            ) from exc

    def _auto_rollback(self, deployment: apps_pb2.Deployment, cause: str) -> str:
        """After a failed deploy of a new version: a new version equal to the last good one, queued.
        Never after an automatic rollback itself (no loops), nor when someone changed the app since,
        nor while the app's server does not answer (the version is not to blame, and the rollback
        could not run either)."""
        try:
            record: state_pb2.AppRecord = self.state.stub.GetApp(
                state_pb2.StateGetAppRequest(name=deployment.app)
            )
            app = record.app
            good = app.last_good_version
            if not app.auto_rollback or not good or good == deployment.version:
                return ""
            if app.current_version != deployment.version:
                return ""
            if (
                engines.is_remote(app.server)
                and self.servers is not None
                and self.servers.explain(app.server)
            ):
                return f"no automatic rollback while server {app.server} does not answer"
            failed: apps_pb2.ConfigVersion = self.state.stub.GetVersion(
                apps_pb2.GetVersionRequest(app=app.name, number=deployment.version)
            )
            if failed.source == "auto_rollback":
                return ""
            target: apps_pb2.ConfigVersion = self.state.stub.GetVersion(
                apps_pb2.GetVersionRequest(app=app.name, number=good)
            )
            message = f"automatic rollback to v{good}: v{deployment.version} failed to deploy"
            reply: apps_pb2.VersionReply = self.state.stub.CreateVersion(
                state_pb2.StateCreateVersionRequest(
                    app=app.name,
                    compose=target.compose,
                    env=target.env,
                    author="appos",
                    message=message,
                    source="auto_rollback",
                    expected_version=deployment.version,
                    deploy=True,
                    rollback_to=good,
                    rollback_cause=cause,
                ),  # fmt: skip
            )
        except (Conflict, NotFound):
            return ""
        self.enqueue(reply.deployment.id, app.server)
        logger.warning("app %s: v%d failed, rolling back to v%d", app.name, deployment.version, good)
        return f"rolled back automatically to v{good} (as v{reply.version.number})"

    def _failure_reason(self, app: str, sink: LogSink, config: dict[str, Any]) -> str:
        errors = [line for line in sink.tail if "error" in line.lower()] or sink.tail[-1:]
        said = errors[-1] if errors else "docker compose failed"
        server = self.server_of(app)
        try:
            with contextlib.closing(self.engine_of(server)()) as client:
                pull = _pull_failure(client, config, sink.tail)
                if pull:
                    return pull
                reason = runtime.failure_reason(runtime.app_containers(client, app))
        except (docker.errors.DockerException, requests.RequestException) as exc:
            # the server went away during the run (its network was cut, say): why (Compose's own
            # words, "Cannot connect to the Docker daemon", are in the deployment's log)
            return self._engine_failed(app, exc)
        return reason or said

    def refresh_app(self, app: str, server: str = "") -> None:
        """Write the app's runtime status from Docker (the engine of the app's `server`, asked of
        state when not given) into state."""
        with contextlib.closing(self.engine_of(server or self.server_of(app))()) as client:
            services = runtime.app_containers(client, app)
        status, message = runtime.summarize(services)
        try:
            self.state.stub.UpdateAppRuntime(
                state_pb2.StateUpdateAppRuntimeRequest(
                    name=app,
                    status=status,
                    status_message=message,
                    services=[apps_pb2.AppService(**s) for s in services],
                ),  # fmt: skip
            )
        except NotFound:
            pass


_PULL_WORDS = re.compile(
    # "No such image": a service with pull_policy: never whose image is not on this server
    r"pull|manifest|/v2/|registry|resolve reference|repository does not exist|no such image",
    re.IGNORECASE,
)


def _pull_failure(client: Any, config: dict[str, Any], tail: list[str]) -> str:
    """When Compose failed pulling: which images are missing, in words, then what Docker said."""
    said = [line for line in tail if _PULL_WORDS.search(line) and "error" in line.lower()]
    if not said:
        return ""
    missing: list[str] = []
    for spec in (config.get("services") or {}).values():
        image = str((spec or {}).get("image") or "")
        if image and image not in missing:
            try:
                client.images.get(image)
            except docker.errors.ImageNotFound:
                missing.append(image)
            except docker.errors.DockerException:
                continue
    if not missing:
        return ""
    which = f"image {missing[0]} was" if len(missing) == 1 else f"images {', '.join(missing)} were"
    return f"{which} not found or the registry cannot be reached (Docker said: {said[-1].strip()})"
