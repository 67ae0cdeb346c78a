"""The internal State service: proto in, one domain call in one session, proto out."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
from google.protobuf import json_format

from appos.v1 import (
    apps_pb2,
    audit_pb2,
    common_pb2,
    notifications_pb2,
    proxy_pb2,
    state_pb2,
    state_pb2_grpc,
    updates_pb2,
)
from services.common.clients import origin_var
from services.common.timestamps import set_ts, ts_us
from services.state import (
    apps,
    audit,
    deployments,
    events,
    notifications,
    proxy,
    servers,
    settings_store,
    stats,
    tokens,
    totp,
    updates,
    users,
    versions,
)
from services.state.models import fill_user
from services.state.store import Store

# How long a watcher sleeps between checks that its caller is still there.
WATCH_POLL_SECONDS = 1.0


class StateServicer(state_pb2_grpc.StateServicer):
    def __init__(self, store: Store, *, hash_key: bytes) -> None:
        self.store = store
        self.hash_key = hash_key  # keys the versions' hashes (models.ConfigVersion.keyed_hash)
        self.app_messages = apps.AppMessages()  # the app list's unchanged apps (apps.fill_app_list)

    # users
    def CreateUser(
        self, request: state_pb2.StateCreateUserRequest, context: grpc.ServicerContext
    ) -> common_pb2.User:
        with self.store.write() as s:
            return users.create_user(
                session=s,
                username=request.username,
                password_hash=request.password_hash,
                role=request.role,
                actor=request.actor,
            ).to_pb()

    def GetUserCredentials(
        self, request: state_pb2.StateGetUserRequest, context: grpc.ServicerContext
    ) -> state_pb2.UserCredentials:
        with self.store.read() as s:
            user = users.get_user(session=s, username=request.username)
            return state_pb2.UserCredentials(user=user.to_pb(), password_hash=user.password_hash)

    def GetUser(
        self, request: state_pb2.StateGetUserRequest, context: grpc.ServicerContext
    ) -> common_pb2.User:
        with self.store.read() as s:
            return users.get_user(session=s, username=request.username).to_pb()

    def ListUsers(
        self, request: state_pb2.StateListUsersRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateListUsersReply:
        with self.store.read() as s:
            found, next_token = users.list_users(
                session=s, page_size=request.page_size, page_token=request.page_token
            )
        reply = state_pb2.StateListUsersReply(next_page_token=next_token)
        for row in found:
            fill_user(reply.users.add(), row)
        return reply

    def UpdateUser(
        self, request: state_pb2.StateUpdateUserRequest, context: grpc.ServicerContext
    ) -> common_pb2.User:
        with self.store.write() as s:
            return users.update_user(
                session=s,
                username=request.username,
                role=request.role if request.HasField("role") else None,
                password_hash=request.password_hash if request.HasField("password_hash") else None,
                disabled=request.disabled if request.HasField("disabled") else None,
                actor=request.actor,
            ).to_pb()

    def DeleteUser(
        self, request: state_pb2.StateDeleteUserRequest, context: grpc.ServicerContext
    ) -> common_pb2.User:
        with self.store.write() as s:
            return users.delete_user(session=s, username=request.username, actor=request.actor).to_pb()

    # tokens
    def CreateToken(
        self, request: state_pb2.StateCreateTokenRequest, context: grpc.ServicerContext
    ) -> common_pb2.ApiToken:
        with self.store.write() as s:
            return tokens.create_token(
                session=s,
                username=request.username,
                name=request.name,
                role=request.role,
                token_hash=request.token_hash,
                prefix=request.prefix,
                expires_at=ts_us(request.expires_at) if request.HasField("expires_at") else None,
                actor=request.actor,
            ).to_pb()

    def ListTokens(
        self, request: state_pb2.StateListTokensRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateListTokensReply:
        with self.store.read() as s:
            found = tokens.list_tokens(session=s, username=request.username)
            return state_pb2.StateListTokensReply(tokens=[t.to_pb() for t in found])

    def RevokeToken(
        self, request: state_pb2.StateRevokeTokenRequest, context: grpc.ServicerContext
    ) -> common_pb2.ApiToken:
        with self.store.write() as s:
            return tokens.revoke_token(
                session=s, token_id=request.id, username=request.username, actor=request.actor
            ).to_pb()

    def ResolveToken(
        self, request: state_pb2.StateResolveTokenRequest, context: grpc.ServicerContext
    ) -> state_pb2.ResolvedToken:
        with self.store.read() as s:
            token = tokens.resolve_token(session=s, token_hash=request.token_hash)
            reply = state_pb2.ResolvedToken(token=token.to_pb(), user=token.user.to_pb())
            stale = tokens.needs_touch(token)
        if stale:
            with self.store.write() as s:
                tokens.touch_token(session=s, token_id=reply.token.id)
        return reply

    # two-factor authentication
    def BeginTotp(
        self, request: state_pb2.StateBeginTotpRequest, context: grpc.ServicerContext
    ) -> common_pb2.User:
        with self.store.write() as s:
            return totp.begin(session=s, username=request.username, secret=request.secret).to_pb()

    def ConfirmTotp(
        self, request: state_pb2.StateConfirmTotpRequest, context: grpc.ServicerContext
    ) -> common_pb2.User:
        with self.store.write() as s:
            return totp.confirm(
                session=s,
                username=request.username,
                code=request.code,
                recovery_hashes=list(request.recovery_code_hashes),
                actor=request.actor,
            ).to_pb()

    def VerifySecondFactor(
        self, request: state_pb2.StateVerifySecondFactorRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateVerifySecondFactorReply:
        with self.store.write() as s:
            enabled, factor, left = totp.verify(
                session=s,
                username=request.username,
                totp_code=request.totp_code,
                recovery_hash=request.recovery_code_hash,
            )
        return state_pb2.StateVerifySecondFactorReply(
            enabled=enabled, factor=factor, recovery_codes_left=left
        )

    def DisableTotp(
        self, request: state_pb2.StateDisableTotpRequest, context: grpc.ServicerContext
    ) -> common_pb2.User:
        with self.store.write() as s:
            return totp.disable(
                session=s, username=request.username, actor=request.actor, reason=request.reason
            ).to_pb()

    # apps and deployments
    def CreateApp(
        self, request: state_pb2.StateCreateAppRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateAppDeployment:
        """The app and its first (pending) deployment, in one transaction."""
        with self.store.write() as s:
            app = apps.create_app(
                session=s,
                name=request.name,
                template=request.template,
                compose=request.compose,
                env=request.env,
                web_service=request.web_service,
                web_port=request.web_port,
                actor=request.actor,
            )
            app.auto_rollback = request.auto_rollback
            app.policy_exceptions_json = json.dumps(sorted(set(request.policy_exceptions)))
            app.server = servers.existing(session=s, name=request.server or servers.LOCAL)
            version = versions.add_version(
                session=s,
                app=app,
                compose=request.compose,
                env=request.env,
                author=request.actor,
                message=request.message or "first deploy",
                source="create",
            )
            deployment = deployments.create_deployment(
                session=s, app=app, action="deploy", actor=request.actor,
                options_json=json.dumps({"origin": {"source": "create"}}),
            )  # fmt: skip
            version.deployment_id = deployment.id
            return state_pb2.StateAppDeployment(app=app.to_pb(), deployment=deployment.to_pb())

    def GetApp(
        self, request: state_pb2.StateGetAppRequest, context: grpc.ServicerContext
    ) -> state_pb2.AppRecord:
        with self.store.read() as s:
            app = apps.get_app(session=s, name=request.name)
            return state_pb2.AppRecord(app=apps.app_pb(session=s, app=app), compose=app.compose, env=app.env)

    def ListApps(
        self, request: state_pb2.StateListAppsRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateListAppsReply:
        reply = state_pb2.StateListAppsReply()
        with self.store.read() as s:
            apps.fill_app_list(reply.apps, session=s, memo=self.app_messages)
        return reply

    def UpdateAppRuntime(
        self, request: state_pb2.StateUpdateAppRuntimeRequest, context: grpc.ServicerContext
    ) -> apps_pb2.App:
        services = [
            json_format.MessageToDict(
                x, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            )
            for x in request.services
        ]
        with self.store.write() as s:
            return apps.update_runtime(
                session=s,
                name=request.name,
                status=request.status,
                status_message=request.status_message,
                services=services,
            ).to_pb()

    def DeleteApp(
        self, request: state_pb2.StateDeleteAppRequest, context: grpc.ServicerContext
    ) -> apps_pb2.App:
        with self.store.write() as s:
            return apps.delete_app(session=s, name=request.name, actor=request.actor).to_pb()

    def CreateDeployment(
        self, request: state_pb2.StateCreateDeploymentRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateAppDeployment:
        with self.store.write() as s:
            deployment = deployments.create_for_app(
                session=s,
                app_name=request.app,
                action=request.action,
                actor=request.actor,
                options_json=request.options_json,
            )
            app = apps.get_app(session=s, name=request.app)
            return state_pb2.StateAppDeployment(app=app.to_pb(), deployment=deployment.to_pb())

    def GetDeployment(
        self, request: apps_pb2.GetDeploymentRequest, context: grpc.ServicerContext
    ) -> state_pb2.DeploymentRecord:
        with self.store.read() as s:
            deployment = deployments.get_deployment(session=s, deployment_id=request.id)
            return state_pb2.DeploymentRecord(
                deployment=deployment.to_pb(), options_json=deployment.options_json
            )

    def ListDeployments(
        self, request: state_pb2.StateListDeploymentsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ListDeploymentsReply:
        with self.store.read() as s:
            found, next_token = deployments.list_deployments(
                session=s,
                app=request.app,
                statuses=list(request.statuses),
                page_size=request.page_size,
                page_token=request.page_token,
                version=request.version,
            )
            return apps_pb2.ListDeploymentsReply(
                deployments=[d.to_pb() for d in found], next_page_token=next_token
            )

    def TransitionDeployment(
        self, request: state_pb2.StateTransitionDeploymentRequest, context: grpc.ServicerContext
    ) -> apps_pb2.Deployment:
        with self.store.write() as s:
            return deployments.transition(
                session=s,
                deployment_id=request.id,
                from_statuses=list(request.from_statuses),
                to_status=request.to_status,
                reason=request.reason,
                new_attempt=request.new_attempt,
                images=request.images,
            ).to_pb()

    def AppendDeploymentLog(
        self, request: state_pb2.StateAppendDeploymentLogRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateAppendDeploymentLogReply:
        with self.store.write() as s:
            last = deployments.append_log(session=s, deployment_id=request.id, lines=list(request.lines))
            return state_pb2.StateAppendDeploymentLogReply(last_seq=last)

    def GetDeploymentLogs(
        self, request: apps_pb2.GetDeploymentLogsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.DeploymentLogs:
        with self.store.read() as s:
            reply = apps_pb2.DeploymentLogs()
            for row in deployments.log_lines(session=s, deployment_id=request.id, after=request.after):
                line = reply.lines.add(seq=row.seq, line=row.line)
                set_ts(line.created_at, row.created_at)
            return reply

    # config versions
    def CreateVersion(
        self, request: state_pb2.StateCreateVersionRequest, context: grpc.ServicerContext
    ) -> apps_pb2.VersionReply:
        with self.store.write() as s:
            version, app, deployment = versions.create_version(
                session=s,
                app_name=request.app,
                compose=request.compose,
                env=request.env,
                author=request.author,
                message=request.message,
                source=request.source,
                expected_version=request.expected_version,
                deploy=request.deploy,
                rollback_to=request.rollback_to,
                rollback_cause=request.rollback_cause,
                options_json=request.options_json,
            )
            origin = deployment.origin() if deployment is not None else None
            reply = apps_pb2.VersionReply(
                version=version.to_pb(hash_key=self.hash_key, origin=origin), app=app.to_pb()
            )
            if deployment is not None:
                reply.deployment.CopyFrom(deployment.to_pb())
            return reply

    def GetVersion(
        self, request: apps_pb2.GetVersionRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ConfigVersion:
        with self.store.read() as s:
            version = versions.get_version(session=s, app=request.app, number=request.number)
            origin = versions.origins(session=s, found=[version]).get(version.deployment_id)
            return version.to_pb(hash_key=self.hash_key, origin=origin)

    def ListVersions(
        self, request: apps_pb2.ListVersionsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.ListVersionsReply:
        with self.store.read() as s:
            found, next_token = versions.list_versions(
                session=s, app=request.app, page_size=request.page_size, page_token=request.page_token
            )
            origin = versions.origins(session=s, found=found)
            return apps_pb2.ListVersionsReply(
                versions=[
                    v.to_pb(hash_key=self.hash_key, with_files=False, origin=origin.get(v.deployment_id))
                    for v in found
                ],
                next_page_token=next_token,
            )

    def UpdateAppOptions(
        self, request: state_pb2.StateUpdateAppOptionsRequest, context: grpc.ServicerContext
    ) -> apps_pb2.App:
        """The app as GetApp says it (status, newest deployments, backup opt-in), options changed:
        read after the commit, so the change (and its event) waits for no reads."""
        with self.store.write() as s:
            name = versions.update_options(
                session=s,
                app_name=request.app,
                auto_rollback=request.auto_rollback if request.HasField("auto_rollback") else None,
                policy_exceptions=list(request.policy_exceptions) if request.set_policy_exceptions else None,
                reason=request.reason,
                actor=request.actor,
            ).name
        with self.store.read() as s:
            return apps.app_pb(session=s, app=apps.get_app(session=s, name=name))

    # proxy
    def PutDomain(
        self, request: state_pb2.StatePutDomainRequest, context: grpc.ServicerContext
    ) -> proxy_pb2.Domain:
        with self.store.write() as s:
            return proxy.put_domain(session=s, spec=request.domain, actor=request.actor).to_pb()

    def ListDomains(
        self, request: proxy_pb2.ListDomainsRequest, context: grpc.ServicerContext
    ) -> proxy_pb2.ListDomainsReply:
        with self.store.read() as s:
            return proxy_pb2.ListDomainsReply(domains=[d.to_pb() for d in proxy.list_domains(session=s)])

    def DeleteDomain(
        self, request: state_pb2.StateDeleteDomainRequest, context: grpc.ServicerContext
    ) -> proxy_pb2.Domain:
        with self.store.write() as s:
            return proxy.delete_domain(session=s, domain=request.domain, actor=request.actor).to_pb()

    def UpdateCertificate(
        self, request: state_pb2.StateUpdateCertificateRequest, context: grpc.ServicerContext
    ) -> proxy_pb2.Domain:
        with self.store.write() as s:
            return proxy.update_certificate(session=s, cert=request.certificate).to_pb()

    # notification targets and settings
    def CreateNotificationTarget(
        self, request: state_pb2.StateNotificationTargetRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateNotificationTarget:
        with self.store.write() as s:
            row = notifications.create_target(session=s, spec=request.target, actor=request.actor)
            return notifications.to_pb(session=s, row=row)

    def UpdateNotificationTarget(
        self, request: state_pb2.StateNotificationTargetRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateNotificationTarget:
        with self.store.write() as s:
            row = notifications.update_target(session=s, spec=request.target, actor=request.actor)
            return notifications.to_pb(session=s, row=row)

    def GetNotificationTarget(
        self, request: state_pb2.StateGetNotificationTargetRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateNotificationTarget:
        with self.store.read() as s:
            row = notifications.get_target(session=s, name=request.name)
            return notifications.to_pb(session=s, row=row)

    def ListNotificationTargets(
        self, request: state_pb2.StateListNotificationTargetsRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateListNotificationTargetsReply:
        with self.store.read() as s:
            rows = notifications.list_targets(session=s)
            return state_pb2.StateListNotificationTargetsReply(
                targets=[notifications.to_pb(session=s, row=row) for row in rows]
            )

    def DeleteNotificationTarget(
        self, request: state_pb2.StateDeleteNotificationTargetRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateNotificationTarget:
        with self.store.write() as s:
            return notifications.delete_target(session=s, name=request.name, actor=request.actor)

    def RecordNotificationDelivery(
        self, request: state_pb2.StateRecordNotificationDeliveryRequest, context: grpc.ServicerContext
    ) -> notifications_pb2.NotificationDelivery:
        with self.store.write() as s:
            return notifications.record_delivery(
                session=s, delivery=request.delivery, final_failure=request.final_failure
            )

    def GetSetting(
        self, request: state_pb2.StateGetSettingRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateSetting:
        with self.store.read() as s:
            row = settings_store.get_setting(session=s, key=request.key)
            reply = state_pb2.StateSetting(key=row.key, value_json=row.value_json)
            set_ts(reply.updated_at, row.updated_at)
            return reply

    def PutSetting(
        self, request: state_pb2.StatePutSettingRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateSetting:
        with self.store.write() as s:
            row = settings_store.put_setting(session=s, key=request.key, value_json=request.value_json)
            reply = state_pb2.StateSetting(key=row.key, value_json=row.value_json)
            set_ts(reply.updated_at, row.updated_at)
            return reply

    # audit log and metrics
    def AppendAudit(
        self, request: state_pb2.StateAppendAuditRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateAppendAuditReply:
        call = dict(origin_var.get()).get("x-appos-call", "") if request.if_absent else ""
        with self.store.write() as s:
            entry_id = audit.append(session=s, entry=request.entry, call=call, recent=self.store.recent_calls)
        return state_pb2.StateAppendAuditReply(id=entry_id)

    def ListAudit(
        self, request: state_pb2.StateListAuditRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ListAuditReply:
        with self.store.read() as s:
            found, next_token = audit.list_entries(
                session=s,
                user=request.user,
                app=request.app,
                action=request.action,
                since_us=request.since_us,
                until_us=request.until_us,
                page_size=request.page_size,
                page_token=request.page_token,
            )
            return audit_pb2.ListAuditReply(
                entries=[audit.to_pb(row) for row in found], next_page_token=next_token
            )

    def GetStats(
        self, request: state_pb2.StateGetStatsRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateStats:
        with self.store.read() as s:
            return stats.collect(session=s, buckets=list(request.duration_buckets))

    # events
    # image update checks
    def RecordUpdateCheck(
        self, request: state_pb2.StateRecordUpdateCheckRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateRecordUpdateCheckReply:
        with self.store.write() as s:
            counts = updates.record_check(
                session=s, checks=list(request.apps), actor=request.actor, origin=request.origin,
                job=request.job,
            )  # fmt: skip
            return state_pb2.StateRecordUpdateCheckReply(
                apps=counts.apps, updates=counts.updates, unknown=counts.unknown,
                new_updates=counts.new_updates, seq=counts.seq,
            )  # fmt: skip

    def ListUpdateChecks(
        self, request: state_pb2.StateListUpdateChecksRequest, context: grpc.ServicerContext
    ) -> updates_pb2.ListUpdatesReply:
        with self.store.read() as s:
            rows = updates.list_findings(session=s, app=request.app)
            return updates_pb2.ListUpdatesReply(updates=[row.to_pb() for row in rows])

    def CreateServer(
        self, request: state_pb2.StateServer, context: grpc.ServicerContext
    ) -> state_pb2.StateServer:
        with self.store.write() as s:
            row = servers.create(
                session=s, name=request.name, address=request.address, docker_socket=request.docker_socket,
                known_hosts=request.known_hosts, fingerprint=request.fingerprint, actor=request.actor,
            )  # fmt: skip
            return row.to_pb()

    def ListServers(
        self, request: state_pb2.StateListServersRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateListServersReply:
        with self.store.read() as s:
            return state_pb2.StateListServersReply(
                servers=[row.to_pb(apps) for row, apps in servers.list_all(session=s)]
            )

    def PinServerHostKey(
        self, request: state_pb2.StatePinServerHostKeyRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateServer:
        with self.store.write() as s:
            row, apps = servers.pin(
                session=s, name=request.name, known_hosts=request.known_hosts,
                fingerprint=request.fingerprint, actor=request.actor,
            )  # fmt: skip
            return row.to_pb(apps)

    def DeleteServer(
        self, request: state_pb2.StateDeleteServerRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateServer:
        with self.store.write() as s:
            return servers.delete(session=s, name=request.name, actor=request.actor).to_pb()

    def RecordTemplateChanges(
        self, request: state_pb2.StateRecordTemplateChangesRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateRecordTemplateChangesReply:
        with self.store.write() as s:
            apps = updates.record_template_changes(session=s, changes=request.changes, actor=request.actor)
        return state_pb2.StateRecordTemplateChangesReply(apps=apps)

    def AppendEvent(
        self, request: state_pb2.StateAppendEventRequest, context: grpc.ServicerContext
    ) -> common_pb2.Event:
        with self.store.write() as s:
            return events.append_raw(
                session=s,
                type=request.type,
                subject=request.subject,
                actor=request.actor,
                payload_json=request.payload_json,
            ).to_pb()

    def ListEvents(
        self, request: state_pb2.StateListEventsRequest, context: grpc.ServicerContext
    ) -> state_pb2.StateListEventsReply:
        with self.store.read() as s:
            found = events.list_after(session=s, after_seq=request.after_seq, limit=request.limit)
            return state_pb2.StateListEventsReply(
                events=[e.to_pb() for e in found], last_seq=self.store.notifier.last_seq
            )

    def Watch(
        self, request: state_pb2.StateWatchRequest, context: grpc.ServicerContext
    ) -> Iterator[common_pb2.Event]:
        """Replay from `after_seq`, then follow. Reads the log in pages, so memory stays flat however
        far back the caller starts, until it is up with the events the notifier holds, which it takes
        from memory (one read per event cost milliseconds); each goes out once, in seq order."""
        last = request.after_seq
        notifier = self.store.notifier
        while context.is_active() and not notifier.closed:
            batch = notifier.recent_after(last)
            if batch is None:
                with self.store.read() as s:
                    found = events.list_after(session=s, after_seq=last, limit=events.MAX_PAGE)
                    batch = [e.to_pb() for e in found]
            for event in batch:
                yield event
                last = event.seq
            if not batch:
                notifier.wait_beyond(last, WATCH_POLL_SECONDS)
