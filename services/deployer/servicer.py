"""The public Catalog, Apps and Deployments services (reached through the gateway)."""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import grpc
import requests
from docker.errors import DockerException

from appos.v1 import apps_pb2, apps_pb2_grpc, state_pb2
from services.common.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from services.common.grpc_server import actor, caller_role
from services.common.names import validate_app_name
from services.common.state_client import StateClient
from services.deployer import compose, envfile, policy, ports, runtime, stats, validation
from services.deployer.backups import Backups
from services.deployer.catalog import Catalog
from services.deployer.executor import cancel_key
from services.deployer.settings import DeployerSettings

logger = logging.getLogger(__name__)


def env_for(role: str, text: str) -> str:
    """The .env as a caller of `role` may read it: a viewer gets the names and never the values."""
    return envfile.mask(text, every_value=True) if role == "viewer" else text


def etag(version: int, content_hash: str) -> str:
    return f'"v{version}-{content_hash[:16]}"'


def parse_etag(value: str) -> int:
    """The version number in an ETag; 0 when it is not one of ours."""
    match = re.fullmatch(r'(?:W/)?"?v(\d+)-[0-9a-f]{16}"?', value.strip())
    return int(match.group(1)) if match else 0


def unified(old: str, new: str, old_name: str, new_name: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=old_name, tofile=new_name
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def port_holders(settings: DeployerSettings, docker_factory: Callable[[], Any]) -> ports.Holders:
    """Who holds host ports now (AppOS's own, containers, listeners); Unavailable without Docker."""
    try:
        with contextlib.closing(docker_factory()) as client:
            return ports.Holders(own_ports=settings.own_ports(), client=client)
    except (DockerException, requests.RequestException) as exc:
        raise Unavailable("the Docker engine is not answering; try again shortly") from exc


class CatalogServicer(apps_pb2_grpc.CatalogServicer):
    def __init__(self, catalog: Catalog, port_holders: Callable[[], ports.Holders] | None = None) -> None:
        self.catalog = catalog
        self.port_holders = port_holders

    def ListTemplates(
        self, request: apps_pb2.ListTemplatesRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ListTemplatesReply:
        found = self.catalog.search(search=request.search, category=request.category)
        return apps_pb2.ListTemplatesReply(
            templates=[t.to_pb() for t in found], categories=self.catalog.categories()
        )

    def GetTemplate(
        self, request: apps_pb2.GetTemplateRequest, context: grpc.ServicerContext
    ) -> apps_pb2.Template:
        template = self.catalog.get(request.template).to_pb(with_compose=True)
        self._suggest_ports(template)
        return template

    def _suggest_ports(self, template: apps_pb2.Template) -> None:
        """A host-port setting whose default is taken right now gets a free port to offer instead."""
        defaults = {
            s.key: int(s.default) for s in template.settings
            if s.type == "int" and s.key.endswith("PORT") and s.default.isdigit()
        }  # fmt: skip
        if not defaults or self.port_holders is None:
            return
        try:
            holders = self.port_holders()
        except Unavailable:
            logger.warning("no port suggestions for %s: Docker is not answering", template.name)
            return
        found = ports.suggestions(defaults, holders)
        for setting in template.settings:
            if setting.key in found:
                setting.suggested = str(found[setting.key][0])
                setting.suggested_reason = found[setting.key][1]


class AppsServicer(apps_pb2_grpc.AppsServicer):
    def __init__(
        self,
        *,
        settings: DeployerSettings,
        catalog: Catalog,
        state: StateClient,
        enqueue: Callable[[str], None],
        docker_factory: Callable[[], Any],
        backups: Backups | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.state = state
        self.enqueue = enqueue
        self.docker_factory = docker_factory
        self.backups = backups

    def _with_options(self, *apps: apps_pb2.App) -> None:
        """Options kept as settings rather than app columns (backup_volumes)."""
        if self.backups is not None and apps:
            opted = self.backups.volume_opt_ins()
            for app in apps:
                app.backup_volumes = app.name in opted

    def _not_while_restoring(self) -> None:
        """Apps do not change while a restore replaces the database, files and volumes under them."""
        restoring = self.backups.restoring() if self.backups is not None else ""
        if restoring:
            raise Conflict(f"backup {restoring} is being restored; apps cannot change until it ends")

    def _queue(self, reply: state_pb2.StateAppDeployment) -> apps_pb2.AppActionReply:
        try:
            self.enqueue(reply.deployment.id)
        except Exception as exc:  # noqa: BLE001 - the broker's errors vary; the deployment must end
            self.state.stub.TransitionDeployment(
                state_pb2.StateTransitionDeploymentRequest(
                    id=reply.deployment.id,
                    from_statuses=["pending"],
                    to_status="failed",
                    reason="the task queue (redis) is unavailable",
                ),
            )
            raise Unavailable("the task queue (redis) is unavailable; try again shortly") from exc
        return apps_pb2.AppActionReply(app=reply.app, deployment=reply.deployment)

    def CreateApp(
        self, request: apps_pb2.CreateAppRequest, context: grpc.ServicerContext
    ) -> apps_pb2.CreateAppReply:
        validate_app_name(request.name)
        self._not_while_restoring()
        generated: dict[str, str] = {}
        web_service, web_port = "", 0
        if request.template:
            if request.compose or request.env:
                raise InvalidArgument("give either a template (with settings) or a compose file, not both")
            try:
                template = self.catalog.get(request.template)
            except NotFound as exc:
                raise InvalidArgument(f"unknown template {request.template!r}") from exc
            compose_text = template.compose
            env_text, generated = template.render_env(dict(request.settings))
            web_service = template.web_service
        elif request.compose:
            if request.settings:
                raise InvalidArgument("settings apply to templates; with a compose file, use env")
            compose_text, env_text = request.compose, request.env
        else:
            raise InvalidArgument("give a template, or a compose file")
        allowed = self._requested_exceptions(request.allow, context)
        config = validation.check(
            name=request.name, compose_text=compose_text, env_text=env_text, allowed=allowed,
            apps_dir=self.settings.apps_dir,
        ).config  # fmt: skip
        self._refuse_taken_ports(request.name, config)
        if web_service:
            web_port = compose.published_port(config, web_service, template.web_port)
        try:
            self.state.stub.GetApp(state_pb2.StateGetAppRequest(name=request.name))
            raise AlreadyExists(f"app {request.name!r} already exists")
        except NotFound:
            pass
        created: state_pb2.StateAppDeployment = self.state.stub.CreateApp(
            state_pb2.StateCreateAppRequest(
                name=request.name,
                template=request.template,
                compose=compose_text,
                env=env_text,
                web_service=web_service,
                web_port=web_port,
                actor=actor(context),
                message=request.message,
                auto_rollback=request.auto_rollback if request.HasField("auto_rollback") else True,
                policy_exceptions=allowed,
            ),
        )
        try:
            queued = self._queue(created)
        except Unavailable as exc:
            # nothing may be left of a create that failed: the app goes, its failed deployment stays
            # as the record of what happened, and the same request works once the queue is back
            self.state.stub.DeleteApp(
                state_pb2.StateDeleteAppRequest(name=request.name, actor=actor(context))
            )
            raise Unavailable(f"{exc.message}; the app was not created") from exc
        return apps_pb2.CreateAppReply(app=queued.app, deployment=queued.deployment, generated=generated)

    def _requested_exceptions(self, names: Iterable[str], context: grpc.ServicerContext) -> list[str]:
        allowed = list(names)
        if allowed:
            if caller_role(context) != "admin":
                raise PermissionDenied("only an admin can allow compose policy exceptions")
            allowed = policy.validate_exceptions(allowed)
        return allowed

    def ValidateApp(
        self, request: apps_pb2.ValidateAppRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ValidateAppReply:
        validate_app_name(request.name)
        try:
            record: state_pb2.AppRecord | None = self.state.stub.GetApp(
                state_pb2.StateGetAppRequest(name=request.name)
            )
        except NotFound:
            record = None
        if record is not None:  # an edit of this app: its own exceptions, as an edit would have them
            if request.allow:
                raise InvalidArgument(
                    f"app {request.name} exists: its policy exceptions are set on the app, not here"
                )
            allowed = list(record.app.policy_exceptions)
        else:
            allowed = self._requested_exceptions(request.allow, context)
        check = functools.partial(
            validation.check, name=request.name, compose_text=request.compose, env_text=request.env,
            allowed=allowed, apps_dir=self.settings.apps_dir,
        )  # fmt: skip
        later = ""
        try:
            checked = check(running=self._running_binds(request.name) if record is not None else [])
        except InvalidArgument as now:  # perhaps only while the app runs: then it can be saved
            checked = check()
            later = f"deploying this version while the app runs would be refused: {now.message}"
        busy = ports.taken(ports.published(checked.config), self._port_holders(), app=request.name)
        return apps_pb2.ValidateAppReply(
            warnings=[
                *checked.warnings,
                *([later] if later else []),
                *[f"deploying this version now would be refused: {problem}" for problem in busy],
            ],
            services=sorted(checked.config.get("services") or {}),
        )

    def _port_holders(self) -> ports.Holders:
        return port_holders(self.settings, self.docker_factory)

    def _refuse_taken_ports(self, app: str, config: dict[str, Any]) -> None:
        """A version whose host port is taken is refused now (the worker checks again right before
        Compose runs, which would stop the running version before finding the port taken)."""
        ports.refuse_taken(config, self._port_holders(), app=app)

    def _running_binds(self, app: str) -> list[str]:
        """The bind sources of the app's running containers (a deploy is refused while one of them
        holds a path of the new version)."""
        try:
            with contextlib.closing(self.docker_factory()) as client:
                return [m.source for m in runtime.bind_mounts(client, app) if m.running]
        except (DockerException, requests.RequestException) as exc:
            raise Unavailable("the Docker engine is not answering; try again shortly") from exc

    def ListApps(
        self, request: apps_pb2.ListAppsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ListAppsReply:
        reply = self.state.stub.ListApps(state_pb2.StateListAppsRequest())
        self._with_options(*reply.apps)
        return apps_pb2.ListAppsReply(apps=reply.apps)

    def GetApp(self, request: apps_pb2.GetAppRequest, context: grpc.ServicerContext) -> apps_pb2.App:
        record: state_pb2.AppRecord = self.state.stub.GetApp(state_pb2.StateGetAppRequest(name=request.app))
        self._with_options(record.app)
        return record.app

    def GetAppStats(
        self, request: apps_pb2.GetAppStatsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.AppStats:
        validate_app_name(request.app)
        self.state.stub.GetApp(state_pb2.StateGetAppRequest(name=request.app))  # NotFound for unknown apps
        return stats.sample_app(self.docker_factory, request.app).to_pb()

    def _action(
        self, app: str, action: str, context: grpc.ServicerContext, **options: object
    ) -> apps_pb2.AppActionReply:
        validate_app_name(app)
        self._not_while_restoring()
        created = self.state.stub.CreateDeployment(
            state_pb2.StateCreateDeploymentRequest(
                app=app, action=action, actor=actor(context), options_json=json.dumps(options)
            ),
        )
        return self._queue(created)

    def StartApp(
        self, request: apps_pb2.AppActionRequest, context: grpc.ServicerContext
    ) -> apps_pb2.AppActionReply:
        return self._action(request.app, "start", context)

    def StopApp(
        self, request: apps_pb2.AppActionRequest, context: grpc.ServicerContext
    ) -> apps_pb2.AppActionReply:
        return self._action(request.app, "stop", context)

    def RestartApp(
        self, request: apps_pb2.AppActionRequest, context: grpc.ServicerContext
    ) -> apps_pb2.AppActionReply:
        return self._action(request.app, "restart", context)

    def RedeployApp(
        self, request: apps_pb2.AppActionRequest, context: grpc.ServicerContext
    ) -> apps_pb2.AppActionReply:
        record = self._record(request.app)
        try:
            config = validation.check(
                name=request.app, compose_text=record.compose, env_text=record.env,
                allowed=list(record.app.policy_exceptions), apps_dir=self.settings.apps_dir,
            ).config  # fmt: skip
        except InvalidArgument:
            config = {}  # the worker refuses it with the reason, before Compose runs
        self._refuse_taken_ports(request.app, config)
        return self._action(request.app, "redeploy", context)

    def DeleteApp(
        self, request: apps_pb2.DeleteAppRequest, context: grpc.ServicerContext
    ) -> apps_pb2.AppActionReply:
        return self._action(request.app, "remove", context, remove_volumes=request.remove_volumes)

    # versions
    def _record(self, app: str) -> state_pb2.AppRecord:
        validate_app_name(app)
        record: state_pb2.AppRecord = self.state.stub.GetApp(state_pb2.StateGetAppRequest(name=app))
        return record

    def _disk(self, app: str) -> tuple[str, str] | None:
        folder = self.settings.apps_dir / app
        try:
            return (folder / "compose.yaml").read_text(), (folder / ".env").read_text()
        except FileNotFoundError:
            return None

    def _validate_files(
        self, app: str, compose_text: str, env_text: str, allowed: list[str], *, deploy: bool
    ) -> None:
        config = validation.check(
            name=app, compose_text=compose_text, env_text=env_text, allowed=allowed,
            apps_dir=self.settings.apps_dir, running=self._running_binds(app) if deploy else (),
        ).config  # fmt: skip
        if deploy:
            self._refuse_taken_ports(app, config)

    def _hand_edits(self, app: str, compose_text: str, env_text: str) -> tuple[str, str] | None:
        """The files on disk when someone edited them by hand: they differ from the current version
        and no deployment is about to replace them. A queued or running deployment writes its
        version before Compose runs, so until then the disk holds the previous one: not an edit."""
        disk = self._disk(app)
        if disk is None or disk == (compose_text, env_text):
            return None
        unfinished: apps_pb2.ListDeploymentsReply = self.state.stub.ListDeployments(
            state_pb2.StateListDeploymentsRequest(app=app, statuses=["pending", "running"], page_size=1),
        )
        return None if unfinished.deployments else disk

    def _store(
        self, app: str, compose_text: str, env_text: str, *, author: str, message: str, source: str,
        expected: int, deploy: bool, rollback_to: int = 0,
    ) -> apps_pb2.VersionReply:  # fmt: skip
        self._not_while_restoring()
        reply: apps_pb2.VersionReply = self.state.stub.CreateVersion(
            state_pb2.StateCreateVersionRequest(
                app=app,
                compose=compose_text,
                env=env_text,
                author=author,
                message=message,
                source=source,
                expected_version=expected,
                deploy=deploy,
                rollback_to=rollback_to,
            ),  # fmt: skip
        )
        if deploy:
            self._queue(state_pb2.StateAppDeployment(app=reply.app, deployment=reply.deployment))
        else:
            compose.write_files(self.settings.apps_dir / app, compose_text, env_text)
        return reply

    def GetCompose(
        self, request: apps_pb2.GetComposeRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ComposeFiles:
        record = self._record(request.app)
        current: apps_pb2.ConfigVersion = self.state.stub.GetVersion(
            apps_pb2.GetVersionRequest(app=request.app, number=record.app.current_version)
        )
        role = caller_role(context)
        reply = apps_pb2.ComposeFiles(
            app=request.app, version=current.number, compose=current.compose,
            env=env_for(role, current.env), hash=current.hash,  # keyed by state: no guess checks
            etag=etag(current.number, current.hash), env_masked=role == "viewer",
        )  # fmt: skip
        disk = self._hand_edits(request.app, current.compose, current.env)
        if disk is not None:
            reply.drift = True
            reply.disk_compose = disk[0]
            reply.disk_env = env_for(role, disk[1])
        return reply

    def UpdateCompose(
        self, request: apps_pb2.UpdateComposeRequest, context: grpc.ServicerContext
    ) -> apps_pb2.VersionReply:
        record = self._record(request.app)
        current = record.app.current_version
        if parse_etag(request.if_match) != current:
            raise Conflict(
                f"stale edit: {request.app} is at v{current} and If-Match {request.if_match or '(none)'} "
                "is not its ETag; GET the compose again and reapply your change"
            )
        files = request.files
        if not files.compose.strip():
            raise InvalidArgument("files.compose is required")
        if (files.compose, files.env) == (record.compose, record.env):
            raise InvalidArgument(f"nothing to change: the edit is identical to v{current}")
        disk = self._hand_edits(request.app, record.compose, record.env)
        adopting = disk == (files.compose, files.env)  # the edit takes the hand-made files as they are
        if disk is not None and not adopting and not request.overwrite_drift:
            raise Conflict(
                f"the files of {request.app} on disk were changed by hand since v{current}: GET its "
                "compose to see them (disk_compose, disk_env); send them as your edit to keep them, "
                "or set overwrite_drift=true"
            )
        self._validate_files(
            request.app, files.compose, files.env, list(record.app.policy_exceptions), deploy=request.deploy
        )
        return self._store(
            request.app, files.compose, files.env, author=actor(context), message=files.message or "edit",
            source="edit", expected=current, deploy=request.deploy,
        )  # fmt: skip

    def ListVersions(
        self, request: apps_pb2.ListVersionsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ListVersionsReply:
        validate_app_name(request.app)
        reply: apps_pb2.ListVersionsReply = self.state.stub.ListVersions(request)
        return reply

    def _version(self, app: str, number: int) -> apps_pb2.ConfigVersion:
        validate_app_name(app)
        if number <= 0:
            raise InvalidArgument("version numbers start at 1")
        version: apps_pb2.ConfigVersion = self.state.stub.GetVersion(
            apps_pb2.GetVersionRequest(app=app, number=number)
        )
        return version

    def GetVersion(
        self, request: apps_pb2.GetVersionRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ConfigVersion:
        version = self._version(request.app, request.number)
        version.env = env_for(caller_role(context), version.env)
        return version

    def DiffVersions(
        self, request: apps_pb2.DiffVersionsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.VersionDiff:
        new = self._version(request.app, request.number)
        against = request.against or request.number - 1
        if against < 0:
            raise InvalidArgument("against must be a version number")
        old = self._version(request.app, against) if against > 0 else apps_pb2.ConfigVersion(number=0)
        role, reveal = caller_role(context), request.reveal_secrets
        if reveal and role != "admin":
            raise PermissionDenied("only an admin can see secrets in a diff")
        old_env, new_env = (old.env, new.env)
        if not reveal:  # a viewer sees the names only; others, all but secret-looking values
            old_env, new_env = (envfile.mask(e, every_value=role == "viewer") for e in (old.env, new.env))
        return apps_pb2.VersionDiff(
            from_version=old.number,
            to_version=new.number,
            compose_diff=unified(
                old.compose, new.compose, f"v{old.number}/compose.yaml", f"v{new.number}/compose.yaml"
            ),
            env_diff=unified(old_env, new_env, f"v{old.number}/.env", f"v{new.number}/.env"),
        )

    def Rollback(
        self, request: apps_pb2.RollbackRequest, context: grpc.ServicerContext
    ) -> apps_pb2.VersionReply:
        record = self._record(request.app)
        target = self._version(request.app, request.version)
        self._validate_files(
            request.app, target.compose, target.env, list(record.app.policy_exceptions), deploy=True
        )
        return self._store(
            request.app, target.compose, target.env, author=actor(context),
            message=request.message or f"rollback to v{target.number}", source="rollback",
            expected=record.app.current_version, deploy=True, rollback_to=target.number,
        )  # fmt: skip

    def UpdateAppOptions(
        self, request: apps_pb2.UpdateAppOptionsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.App:
        validate_app_name(request.app)
        update = state_pb2.StateUpdateAppOptionsRequest(app=request.app, actor=actor(context))
        if request.HasField("auto_rollback"):
            update.auto_rollback = request.auto_rollback
        app: apps_pb2.App = self.state.stub.UpdateAppOptions(update)  # NotFound for unknown apps
        if request.HasField("backup_volumes"):
            if self.backups is None:
                raise FailedPrecondition("backups are not available in this process")
            self.backups.set_volume_opt_in(request.app, request.backup_volumes, actor(context))
        self._with_options(app)
        return app

    def SetPolicyExceptions(
        self, request: apps_pb2.SetPolicyExceptionsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.App:
        validate_app_name(request.app)
        names = policy.validate_exceptions(list(request.exceptions))
        if names and not request.reason.strip():
            raise InvalidArgument("say why (reason): policy exceptions are audited")
        app: apps_pb2.App = self.state.stub.UpdateAppOptions(
            state_pb2.StateUpdateAppOptionsRequest(
                app=request.app,
                set_policy_exceptions=True,
                policy_exceptions=names,
                reason=request.reason,
                actor=actor(context),
            ),  # fmt: skip
        )
        return app

    def GetAppLogs(
        self, request: apps_pb2.GetAppLogsRequest, context: grpc.ServicerContext
    ) -> Iterator[apps_pb2.LogLine]:
        """Served by the gateway itself, from the Docker engine (gateway/app_logs.py): a log follow
        holds no thread of this service."""
        raise FailedPrecondition("container logs are served by the gateway, not the deployer")


class DeploymentsServicer(apps_pb2_grpc.DeploymentsServicer):
    def __init__(self, *, state: StateClient, redis_set: Callable[[str], None]) -> None:
        self.state = state
        self.redis_set = redis_set

    def ListDeployments(
        self, request: apps_pb2.ListDeploymentsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ListDeploymentsReply:
        reply: apps_pb2.ListDeploymentsReply = self.state.stub.ListDeployments(
            state_pb2.StateListDeploymentsRequest(
                app=request.app, page_size=request.page_size, page_token=request.page_token
            ),
        )
        return reply

    def GetDeployment(
        self, request: apps_pb2.GetDeploymentRequest, context: grpc.ServicerContext
    ) -> apps_pb2.Deployment:
        record: state_pb2.DeploymentRecord = self.state.stub.GetDeployment(request)
        return record.deployment

    def GetDeploymentLogs(
        self, request: apps_pb2.GetDeploymentLogsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.DeploymentLogs:
        logs: apps_pb2.DeploymentLogs = self.state.stub.GetDeploymentLogs(request)
        return logs

    def CancelDeployment(
        self, request: apps_pb2.CancelDeploymentRequest, context: grpc.ServicerContext
    ) -> apps_pb2.Deployment:
        record: state_pb2.DeploymentRecord = self.state.stub.GetDeployment(
            apps_pb2.GetDeploymentRequest(id=request.id)
        )
        deployment = record.deployment
        if deployment.status == "pending":
            try:
                moved: apps_pb2.Deployment = self.state.stub.TransitionDeployment(
                    state_pb2.StateTransitionDeploymentRequest(
                        id=deployment.id,
                        from_statuses=["pending"],
                        to_status="cancelled",
                        reason=f"cancelled by {actor(context)} before it started",
                    ),
                )
                return moved
            except Conflict:  # it started meanwhile: cancel the running one below
                deployment = self.state.stub.GetDeployment(
                    apps_pb2.GetDeploymentRequest(id=request.id)
                ).deployment
        if deployment.status == "running":
            self.redis_set(cancel_key(deployment.id))
            return deployment
        raise FailedPrecondition(f"deployment {deployment.id} is already {deployment.status}")
