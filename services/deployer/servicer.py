"""The public Catalog, Apps and Deployments services (reached through the gateway): each method
checks the request, calls one domain function (apps.py, versions.py, deployments.py) and answers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from appos.v1 import apps_pb2, apps_pb2_grpc, state_pb2
from services.common.errors import FailedPrecondition, Unavailable
from services.common.grpc_server import actor, caller_role
from services.common.names import validate_app_name
from services.common.state_client import StateClient
from services.deployer import deployments, ports
from services.deployer.apps import Apps, NewApp, ServerCheck
from services.deployer.backups import Backups
from services.deployer.catalog import Catalog
from services.deployer.engine import port_holders
from services.deployer.settings import DeployerSettings
from services.deployer.versions import Edit, Versions, env_for

# port_holders lives in engine.py; main.py still takes it from here
__all__ = ["AppsServicer", "CatalogServicer", "DeploymentsServicer", "port_holders"]

logger = logging.getLogger(__name__)


class CatalogServicer(apps_pb2_grpc.CatalogServicer):
    def __init__(self, catalog: Catalog, port_holders: Callable[[], ports.Holders] | None = None) -> None:
        self.catalog = catalog
        self.port_holders = port_holders

    def ListTemplates(
        self, request: apps_pb2.ListTemplatesRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ListTemplatesReply:
        found = self.catalog.search(search=request.search, category=request.category, store=request.store)
        return apps_pb2.ListTemplatesReply(
            templates=[t.to_pb() for t in found], categories=self.catalog.categories()
        )

    def GetTemplate(
        self, request: apps_pb2.GetTemplateRequest, context: grpc.ServicerContext
    ) -> apps_pb2.Template:
        template = self.catalog.get(request.template).to_pb(with_compose=True)
        self.suggest_ports(template)
        return template

    def suggest_ports(self, template: apps_pb2.Template) -> None:
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
        enqueue: Callable[[str, str], None],
        docker_factory: Callable[[], Any],
        backups: Backups | None = None,
        servers: ServerCheck | None = None,
    ) -> None:
        self.apps = Apps(
            settings=settings, catalog=catalog, state=state, enqueue=enqueue,
            docker_factory=docker_factory, backups=backups, servers=servers,
        )  # fmt: skip
        self.versions = Versions(self.apps)

    def CreateApp(
        self, request: apps_pb2.CreateAppRequest, context: grpc.ServicerContext
    ) -> apps_pb2.CreateAppReply:
        validate_app_name(request.name)
        return self.apps.create(spec=NewApp.from_pb(request), actor=actor(context), role=caller_role(context))

    def ValidateApp(
        self, request: apps_pb2.ValidateAppRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ValidateAppReply:
        validate_app_name(request.name)
        return self.apps.validate(
            name=request.name, compose_text=request.compose, env_text=request.env, allow=list(request.allow),
            role=caller_role(context),
        )  # fmt: skip

    def ListApps(
        self, request: apps_pb2.ListAppsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ListAppsReply:
        return apps_pb2.ListAppsReply(apps=self.apps.list_all())

    def GetApp(self, request: apps_pb2.GetAppRequest, context: grpc.ServicerContext) -> apps_pb2.App:
        return self.apps.get(request.app)

    def GetAppStats(
        self, request: apps_pb2.GetAppStatsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.AppStats:
        validate_app_name(request.app)
        return self.apps.usage(request.app)

    def _action(
        self, app: str, action: str, context: grpc.ServicerContext, **options: object
    ) -> apps_pb2.AppActionReply:
        validate_app_name(app)
        return self.apps.act(app=app, action=action, actor=actor(context), **options)

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
        validate_app_name(request.app)
        return self.apps.redeploy(app=request.app, actor=actor(context))

    def DeleteApp(
        self, request: apps_pb2.DeleteAppRequest, context: grpc.ServicerContext
    ) -> apps_pb2.AppActionReply:
        return self._action(request.app, "remove", context, remove_volumes=request.remove_volumes)

    # versions
    def GetCompose(
        self, request: apps_pb2.GetComposeRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ComposeFiles:
        validate_app_name(request.app)
        return self.versions.compose_files(app=request.app, role=caller_role(context))

    def UpdateCompose(
        self, request: apps_pb2.UpdateComposeRequest, context: grpc.ServicerContext
    ) -> apps_pb2.VersionReply:
        validate_app_name(request.app)
        return self.versions.save_edit(app=request.app, edit=Edit.from_pb(request), actor=actor(context))

    def ListVersions(
        self, request: apps_pb2.ListVersionsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ListVersionsReply:
        validate_app_name(request.app)
        reply: apps_pb2.ListVersionsReply = self.apps.state.stub.ListVersions(request)
        return reply

    def GetVersion(
        self, request: apps_pb2.GetVersionRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ConfigVersion:
        validate_app_name(request.app)
        version = self.versions.get(request.app, request.number)
        version.env = env_for(caller_role(context), version.env)
        return version

    def DiffVersions(
        self, request: apps_pb2.DiffVersionsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.VersionDiff:
        validate_app_name(request.app)
        return self.versions.diff(
            app=request.app, number=request.number, against=request.against, role=caller_role(context),
            reveal=request.reveal_secrets,
        )  # fmt: skip

    def Rollback(
        self, request: apps_pb2.RollbackRequest, context: grpc.ServicerContext
    ) -> apps_pb2.VersionReply:
        validate_app_name(request.app)
        return self.versions.rollback(
            app=request.app, number=request.version, message=request.message, actor=actor(context)
        )

    def UpdateAppOptions(
        self, request: apps_pb2.UpdateAppOptionsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.App:
        validate_app_name(request.app)
        return self.apps.update_options(
            app=request.app,
            auto_rollback=request.auto_rollback if request.HasField("auto_rollback") else None,
            backup_volumes=request.backup_volumes if request.HasField("backup_volumes") else None,
            actor=actor(context),
        )

    def SetPolicyExceptions(
        self, request: apps_pb2.SetPolicyExceptionsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.App:
        validate_app_name(request.app)
        return self.apps.set_policy_exceptions(
            app=request.app, names=list(request.exceptions), reason=request.reason, actor=actor(context)
        )

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
        return deployments.cancel(
            state=self.state, redis_set=self.redis_set, deployment_id=request.id, actor=actor(context)
        )
