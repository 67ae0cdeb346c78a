"""The public Catalog, Apps and Deployments services (reached through the gateway)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator

import grpc

from appos.v1 import apps_pb2, apps_pb2_grpc, state_pb2
from services.common.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from services.common.names import validate_app_name
from services.common.state_client import StateClient
from services.deployer import compose, envfile
from services.deployer.catalog import Catalog
from services.deployer.executor import cancel_key
from services.deployer.settings import DeployerSettings

MAX_TAIL = 5000


def actor(context: grpc.ServicerContext) -> str:
    """The user the gateway says is calling (internal sockets only: the gateway is trusted)."""
    metadata = dict(context.invocation_metadata() or ())
    return str(metadata.get("x-appos-user", "")) or "system"


class CatalogServicer(apps_pb2_grpc.CatalogServicer):
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

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
        return self.catalog.get(request.template).to_pb(with_compose=True)


class AppsServicer(apps_pb2_grpc.AppsServicer):
    def __init__(
        self,
        *,
        settings: DeployerSettings,
        catalog: Catalog,
        state: StateClient,
        enqueue: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.state = state
        self.enqueue = enqueue

    def _queue(self, reply: state_pb2.StateAppDeployment) -> apps_pb2.AppActionReply:
        try:
            self.enqueue(reply.deployment.id)
        except Exception as exc:  # noqa: BLE001 - the broker's errors vary; the deployment must end
            self.state.call(
                "TransitionDeployment",
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
            envfile.keys(env_text)
        else:
            raise InvalidArgument("give a template, or a compose file")
        config = compose.check_config(compose_text, env_text)
        if web_service:
            web_port = compose.published_port(config, web_service, template.web_port)
        try:
            self.state.call("GetApp", state_pb2.StateGetAppRequest(name=request.name))
            raise AlreadyExists(f"app {request.name!r} already exists")
        except NotFound:
            pass
        created: state_pb2.StateAppDeployment = self.state.call(
            "CreateApp",
            state_pb2.StateCreateAppRequest(
                name=request.name,
                template=request.template,
                compose=compose_text,
                env=env_text,
                web_service=web_service,
                web_port=web_port,
                actor=actor(context),
            ),
        )
        queued = self._queue(created)
        return apps_pb2.CreateAppReply(app=queued.app, deployment=queued.deployment, generated=generated)

    def ListApps(
        self, request: apps_pb2.ListAppsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ListAppsReply:
        reply = self.state.call("ListApps", state_pb2.StateListAppsRequest())
        return apps_pb2.ListAppsReply(apps=reply.apps)

    def GetApp(self, request: apps_pb2.GetAppRequest, context: grpc.ServicerContext) -> apps_pb2.App:
        record: state_pb2.AppRecord = self.state.call(
            "GetApp", state_pb2.StateGetAppRequest(name=request.app)
        )
        return record.app

    def _action(
        self, app: str, action: str, context: grpc.ServicerContext, **options: object
    ) -> apps_pb2.AppActionReply:
        validate_app_name(app)
        created = self.state.call(
            "CreateDeployment",
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
        return self._action(request.app, "redeploy", context)

    def DeleteApp(
        self, request: apps_pb2.DeleteAppRequest, context: grpc.ServicerContext
    ) -> apps_pb2.AppActionReply:
        return self._action(request.app, "remove", context, remove_volumes=request.remove_volumes)

    def GetAppLogs(
        self, request: apps_pb2.GetAppLogsRequest, context: grpc.ServicerContext
    ) -> Iterator[apps_pb2.LogLine]:
        validate_app_name(request.app)
        if request.service:
            _validate_service(request.service)
        if not 0 <= request.tail <= MAX_TAIL:
            raise InvalidArgument(f"tail must be between 0 and {MAX_TAIL}")
        self.state.call("GetApp", state_pb2.StateGetAppRequest(name=request.app))  # NotFound for unknown apps
        project = compose.Project(
            name=compose.project_name(request.app),
            directory=self.settings.apps_dir / request.app,
            docker_host=self.settings.docker_host,
        )
        args = ["logs", "--no-color", "--tail", str(request.tail or 200)]
        if request.follow:
            args.append("--follow")
        if request.service:
            args.append(request.service)
        proc = subprocess.Popen(
            project.command(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=project.env(),
            start_new_session=True,
        )  # fmt: skip
        context.add_callback(proc.kill)
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                line = compose.clean_line(raw)
                service, sep, text = line.partition(" | ")
                if sep:
                    yield apps_pb2.LogLine(service=_service_of(service.strip()), line=text)
                else:
                    yield apps_pb2.LogLine(service="", line=line)
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()


def _validate_service(name: str) -> None:
    if not name or len(name) > 63 or not all(c.isalnum() or c in "-_." for c in name) or name[0] in "-.":
        raise InvalidArgument("service must be a compose service name")


def _service_of(container: str) -> str:
    """`web-1` (compose's log prefix) → `web`."""
    base, _, index = container.rpartition("-")
    return base if index.isdigit() and base else container


class DeploymentsServicer(apps_pb2_grpc.DeploymentsServicer):
    def __init__(self, *, state: StateClient, redis_set: Callable[[str], None]) -> None:
        self.state = state
        self.redis_set = redis_set

    def ListDeployments(
        self, request: apps_pb2.ListDeploymentsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ListDeploymentsReply:
        reply: apps_pb2.ListDeploymentsReply = self.state.call(
            "ListDeployments",
            state_pb2.StateListDeploymentsRequest(
                app=request.app, page_size=request.page_size, page_token=request.page_token
            ),
        )
        return reply

    def GetDeployment(
        self, request: apps_pb2.GetDeploymentRequest, context: grpc.ServicerContext
    ) -> apps_pb2.Deployment:
        record: state_pb2.DeploymentRecord = self.state.call("GetDeployment", request)
        return record.deployment

    def GetDeploymentLogs(
        self, request: apps_pb2.GetDeploymentLogsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.DeploymentLogs:
        logs: apps_pb2.DeploymentLogs = self.state.call("GetDeploymentLogs", request)
        return logs

    def CancelDeployment(
        self, request: apps_pb2.CancelDeploymentRequest, context: grpc.ServicerContext
    ) -> apps_pb2.Deployment:
        record: state_pb2.DeploymentRecord = self.state.call(
            "GetDeployment", apps_pb2.GetDeploymentRequest(id=request.id)
        )
        deployment = record.deployment
        if deployment.status == "pending":
            try:
                moved: apps_pb2.Deployment = self.state.call(
                    "TransitionDeployment",
                    state_pb2.StateTransitionDeploymentRequest(
                        id=deployment.id,
                        from_statuses=["pending"],
                        to_status="cancelled",
                        reason=f"cancelled by {actor(context)} before it started",
                    ),
                )
                return moved
            except Conflict:  # it started meanwhile: cancel the running one below
                deployment = self.state.call(
                    "GetDeployment", apps_pb2.GetDeploymentRequest(id=request.id)
                ).deployment
        if deployment.status == "running":
            self.redis_set(cancel_key(deployment.id))
            return deployment
        raise FailedPrecondition(f"deployment {deployment.id} is already {deployment.status}")
