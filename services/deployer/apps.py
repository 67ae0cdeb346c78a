"""An app's life from the API's side: create, validate, actions (start, stop, restart, redeploy,
remove), options and policy exceptions. Each change is checked here (policy, host ports, a restore
in progress), written to state in one call, and its deployment handed to the worker.

State checks what only it can know itself (a name taken, an app that does not exist): no call is
made to state just to ask first."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from appos.v1 import apps_pb2, state_pb2
from services.common import engines
from services.common.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from services.common.state_client import StateClient
from services.deployer import compose, deployments, engine, policy, ports, stats, validation
from services.deployer.backups import Backups
from services.deployer.catalog import Catalog
from services.deployer.settings import DeployerSettings


@dataclass(frozen=True)
class NewApp:
    """A create request: a template with its settings, or a compose file with its .env."""

    name: str
    template: str = ""
    settings: Mapping[str, str] = field(default_factory=dict)
    compose: str = ""
    env: str = ""
    message: str = ""
    auto_rollback: bool = True
    allow: Sequence[str] = ()
    server: str = engines.LOCAL

    @classmethod
    def from_pb(cls, request: apps_pb2.CreateAppRequest) -> NewApp:
        return cls(
            name=request.name, template=request.template, settings=dict(request.settings),
            compose=request.compose, env=request.env, message=request.message,
            auto_rollback=request.auto_rollback if request.HasField("auto_rollback") else True,
            allow=list(request.allow), server=request.server or engines.LOCAL,
        )  # fmt: skip


@dataclass(frozen=True)
class _Files:
    """What a new app starts from: its files, the values generated for the template's secrets, and
    the template's web service and the container port it serves on."""

    compose: str
    env: str
    generated: dict[str, str] = field(default_factory=dict)
    web_service: str = ""
    web_port: int = 0


def _files(catalog: Catalog, spec: NewApp) -> _Files:
    if spec.template:
        if spec.compose or spec.env:
            raise InvalidArgument("give either a template (with settings) or a compose file, not both")
        try:
            template = catalog.get(spec.template)
        except NotFound as exc:
            raise InvalidArgument(f"unknown template {spec.template!r}") from exc
        env_text, generated = template.render_env(dict(spec.settings))
        return _Files(template.compose, env_text, generated, template.web_service, template.web_port)
    if spec.compose:
        if spec.settings:
            raise InvalidArgument("settings apply to templates; with a compose file, use env")
        return _Files(spec.compose, spec.env)
    raise InvalidArgument("give a template, or a compose file")


def requested_exceptions(names: Sequence[str], *, role: str) -> list[str]:
    """Policy exceptions a request asks for: an admin's only, each a known rule."""
    allowed = list(names)
    if allowed:
        if role != "admin":
            raise PermissionDenied("only an admin can allow compose policy exceptions")
        allowed = policy.validate_exceptions(allowed)
    return allowed


class ServerCheck(Protocol):
    def require_up(self, server: str) -> None: ...


@dataclass(frozen=True)
class Apps:
    """What the app flows work with; versions.Versions uses its shared steps too."""

    settings: DeployerSettings
    catalog: Catalog
    state: StateClient
    enqueue: Callable[[str, str], None]  # (deployment id, its app's server)
    docker_factory: Callable[[], Any]  # the local engine's
    backups: Backups | None = None
    # `require_up(server)`: InvalidArgument unless the remote server exists and answers (issue 21)
    servers: ServerCheck | None = None

    # steps shared by every change
    def refuse_while_restoring(self) -> None:
        """Apps do not change while a restore replaces the database, files and volumes under them."""
        restoring = self.backups.restoring() if self.backups is not None else ""
        if restoring:
            raise Conflict(f"backup {restoring} is being restored; apps cannot change until it ends")

    def queue(self, created: state_pb2.StateAppDeployment) -> state_pb2.StateAppDeployment:
        return deployments.queue(state=self.state, enqueue=self.enqueue, created=created)

    def engine_of(self, server: str) -> Callable[[], Any]:
        return engines.factory_for(server, sockets=self.settings.sockets, local=self.docker_factory)

    def server_of(self, app: str) -> str:
        return engine.server_of(self.state, app)

    def port_holders(self, server: str, app: str) -> ports.Holders:
        """Who holds host ports on `server`'s engine now, for a check of `app`'s ports."""
        return engine.port_holders(
            self.settings, self.engine_of(server), remote=engines.is_remote(server), for_app=app
        )

    def refuse_taken_ports(self, app: str, config: dict[str, Any], server: str = engines.LOCAL) -> None:
        """A version whose host port is taken is refused now (the worker checks again right before
        Compose runs, which would stop the running version before finding the port taken)."""
        ports.refuse_taken(config, self.port_holders(server, app), app=app)

    def check_version(
        self, app: str, compose_text: str, env_text: str, allowed: Sequence[str], *, deploy: bool,
        server: str = engines.LOCAL,
    ) -> None:  # fmt: skip
        """The checks of a new version of an existing app (on `server`); one deployed at once is also
        checked against the app's running containers and the host ports held now."""
        server = server or engines.LOCAL
        config = validation.check(
            name=app, compose_text=compose_text, env_text=env_text, allowed=allowed,
            apps_dir=self.settings.apps_dir,
            running=engine.running_binds(self.engine_of(server), app) if deploy else (),
        ).config  # fmt: skip
        if deploy:
            self.refuse_taken_ports(app, config, server)

    # the flows
    def create(self, *, spec: NewApp, actor: str, role: str) -> apps_pb2.CreateAppReply:
        """The app and its first deployment, queued. Nothing is left of a create that failed."""
        self.refuse_while_restoring()
        if engines.is_remote(spec.server):
            if self.servers is None:
                raise InvalidArgument("this AppOS runs apps on this machine only")
            self.servers.require_up(spec.server)
        files = _files(self.catalog, spec)
        allowed = requested_exceptions(spec.allow, role=role)
        # the two checks side by side: the engine tells who holds ports while Compose reads the files
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="port-holders") as pool:
            holders = pool.submit(self.port_holders, spec.server, spec.name)
            config = validation.check(
                name=spec.name, compose_text=files.compose, env_text=files.env, allowed=allowed,
                apps_dir=self.settings.apps_dir,
            ).config  # fmt: skip
            ports.refuse_taken(config, holders.result(), app=spec.name)
        web_port = (
            compose.published_port(config, files.web_service, files.web_port) if files.web_service else 0
        )
        created: state_pb2.StateAppDeployment = self.state.stub.CreateApp(  # AlreadyExists for a taken name
            state_pb2.StateCreateAppRequest(
                name=spec.name, template=spec.template, compose=files.compose, env=files.env,
                web_service=files.web_service, web_port=web_port, actor=actor, message=spec.message,
                auto_rollback=spec.auto_rollback, policy_exceptions=allowed, server=spec.server,
            ),
        )  # fmt: skip
        try:
            queued = self.queue(created)
        except Unavailable as exc:
            # the app goes, its failed deployment stays as the record of what happened, and the same
            # request works once the queue is back
            self.state.stub.DeleteApp(state_pb2.StateDeleteAppRequest(name=spec.name, actor=actor))
            raise Unavailable(f"{exc.message}; the app was not created") from exc
        return apps_pb2.CreateAppReply(
            app=queued.app, deployment=queued.deployment, generated=files.generated
        )

    def validate(
        self, *, name: str, compose_text: str, env_text: str, allow: Sequence[str], role: str
    ) -> apps_pb2.ValidateAppReply:
        """Would this version be accepted (as a new app, or as an edit of the app of that name)? What
        would be refused only later (while the app runs, or while a host port is taken) is a warning."""
        try:
            record: state_pb2.AppRecord | None = self.state.stub.GetApp(
                state_pb2.StateGetAppRequest(name=name)
            )
        except NotFound:
            record = None
        if record is not None:  # an edit of this app: its own exceptions, as an edit would have them
            if allow:
                raise InvalidArgument(
                    f"app {name} exists: its policy exceptions are set on the app, not here"
                )
            allowed = list(record.app.policy_exceptions)
        else:
            allowed = requested_exceptions(allow, role=role)
        check = functools.partial(
            validation.check, name=name, compose_text=compose_text, env_text=env_text, allowed=allowed,
            apps_dir=self.settings.apps_dir,
        )  # fmt: skip
        later = ""
        try:
            server = record.app.server if record is not None else engines.LOCAL
            checked = check(
                running=engine.running_binds(self.engine_of(server), name) if record is not None else []
            )
        except InvalidArgument as now:  # perhaps only while the app runs: then it can be saved
            checked = check()
            later = f"deploying this version while the app runs would be refused: {now.message}"
        server = record.app.server if record is not None else engines.LOCAL
        holders = self.port_holders(server, name)
        busy = ports.taken(ports.published(checked.config), holders, app=name)
        return apps_pb2.ValidateAppReply(
            warnings=[
                *checked.warnings,
                *([later] if later else []),
                *[f"deploying this version now would be refused: {problem}" for problem in busy],
            ],
            services=sorted(checked.config.get("services") or {}),
        )

    def act(self, *, app: str, action: str, actor: str, **options: object) -> apps_pb2.AppActionReply:
        """A deployment that starts, stops, restarts, redeploys or removes the app (NotFound from
        state for an unknown app)."""
        self.refuse_while_restoring()
        created = self.state.stub.CreateDeployment(
            state_pb2.StateCreateDeploymentRequest(
                app=app, action=action, actor=actor, options_json=json.dumps(options)
            ),
        )
        queued = self.queue(created)
        return apps_pb2.AppActionReply(app=queued.app, deployment=queued.deployment)

    def redeploy(self, *, app: str, actor: str) -> apps_pb2.AppActionReply:
        """The current version again, refused now when a host port it publishes is taken."""
        record: state_pb2.AppRecord = self.state.stub.GetApp(state_pb2.StateGetAppRequest(name=app))
        try:
            config = validation.check(
                name=app, compose_text=record.compose, env_text=record.env,
                allowed=list(record.app.policy_exceptions), apps_dir=self.settings.apps_dir,
            ).config  # fmt: skip
        except InvalidArgument:
            config = {}  # the worker refuses it with the reason, before Compose runs
        self.refuse_taken_ports(app, config, record.app.server or engines.LOCAL)
        return self.act(app=app, action="redeploy", actor=actor)

    def list_all(self) -> list[apps_pb2.App]:
        # state's apps carry everything a client sees, the backup opt-in (a setting) included
        return list(self.state.stub.ListApps(state_pb2.StateListAppsRequest()).apps)

    def get(self, name: str) -> apps_pb2.App:
        app: apps_pb2.App = self.state.stub.GetApp(state_pb2.StateGetAppRequest(name=name)).app
        return app

    def usage(self, name: str) -> apps_pb2.AppStats:
        """CPU and memory of the app's containers (NotFound for an app state does not know)."""
        return stats.sample_app(self.engine_of(self.server_of(name)), name).to_pb()

    def update_options(
        self, *, app: str, auto_rollback: bool | None, backup_volumes: bool | None, actor: str
    ) -> apps_pb2.App:
        update = state_pb2.StateUpdateAppOptionsRequest(app=app, actor=actor)
        if auto_rollback is not None:
            update.auto_rollback = auto_rollback
        updated: apps_pb2.App = self.state.stub.UpdateAppOptions(update)  # NotFound for unknown apps
        if backup_volumes is not None:
            if self.backups is None:
                raise FailedPrecondition("backups are not available in this process")
            self.backups.set_volume_opt_in(app, backup_volumes, actor)
            updated.backup_volumes = backup_volumes  # state's reply was written before the opt-in
        return updated

    def set_policy_exceptions(
        self, *, app: str, names: Sequence[str], reason: str, actor: str
    ) -> apps_pb2.App:
        checked = policy.validate_exceptions(list(names))
        if checked and not reason.strip():
            raise InvalidArgument("say why (reason): policy exceptions are audited")
        updated: apps_pb2.App = self.state.stub.UpdateAppOptions(
            state_pb2.StateUpdateAppOptionsRequest(
                app=app, set_policy_exceptions=True, policy_exceptions=checked, reason=reason, actor=actor
            ),
        )
        return updated
