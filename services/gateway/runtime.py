"""What the gateway holds while it runs: channels to the services, Redis, and the implementations
of the public services. Built in the app's lifespan, inside the event loop that uses it."""

from __future__ import annotations

from dataclasses import dataclass

import grpc.aio
from redis.asyncio import Redis

from appos.v1 import state_pb2_grpc
from services.common.clients import aio_channel
from services.gateway.app_logs import AppLogs
from services.gateway.audit import AuditRecorder, AuditService
from services.gateway.auth_service import AuthService
from services.gateway.authn import Authenticator
from services.gateway.backup_routes import with_long_calls
from services.gateway.docker_logs import DockerLogs
from services.gateway.event_hub import EventHub
from services.gateway.host_stats import HostSampler
from services.gateway.http_rules import Route
from services.gateway.open_streams import OpenStreams
from services.gateway.ratelimit import LoginLimiter
from services.gateway.rest import Handler, resolve_handlers
from services.gateway.second_factor import SecondFactor
from services.gateway.sessions import Sessions
from services.gateway.settings import GatewaySettings
from services.gateway.signing_key import SigningKey
from services.gateway.state_replies import AppList
from services.gateway.stream_counts import StreamCounts, lapse_for
from services.gateway.system_service import SystemService


@dataclass
class Runtime:
    authenticator: Authenticator
    handlers: dict[str, Handler]
    channels: dict[str, grpc.aio.Channel]
    redis: Redis
    audit: AuditRecorder
    events: EventHub
    # Long streams: per-user limits and their end when access ends; container logs from Docker.
    streams: OpenStreams
    docker_logs: DockerLogs
    app_logs: AppLogs
    second_factor: SecondFactor

    @classmethod
    def start(cls, settings: GatewaySettings, routes: list[Route]) -> Runtime:
        channels = {name: aio_channel(settings.socket_path(name)) for name in settings.services}
        if "state" not in channels:
            raise ValueError("APPOS_SERVICES must include state")
        redis = Redis(
            unix_socket_path=str(settings.socket_path("redis")),
            socket_timeout=2,
            socket_connect_timeout=2,
        )
        state = state_pb2_grpc.StateStub(channels["state"])
        signing_key = SigningKey(settings.jwt_secret_file)
        authenticator = Authenticator(
            state=state,
            key=signing_key,
            ttl_seconds=settings.token_ttl_seconds,
            rpc_timeout=settings.rpc_timeout_seconds,
            sessions=Sessions(redis),
        )
        limiter = LoginLimiter(
            redis,
            max_failures=settings.login_max_failures,
            max_address_failures=settings.address_failure_limit,
            window_seconds=settings.login_window_seconds,
        )
        second_factor = SecondFactor(state=state, limiter=limiter, rpc_timeout=settings.rpc_timeout_seconds)
        host = HostSampler(settings.data)
        host.start()
        implementations: dict[str, object] = {
            "appos.v1.Auth": AuthService(
                state=state,
                state_channel=channels["state"],
                authenticator=authenticator,
                limiter=limiter,
                second_factor=second_factor,
                rpc_timeout=settings.rpc_timeout_seconds,
            ),
            "appos.v1.System": SystemService(
                channels=channels,
                redis=redis,
                docker_host=settings.docker_host,
                state=state,
                signing_key=signing_key,
                rpc_timeout=settings.rpc_timeout_seconds,
                host=host,
            ),
            "appos.v1.Audit": AuditService(state=state, rpc_timeout=settings.rpc_timeout_seconds),
            # ListApps only (from state); the other Apps methods are the deployer's
            "appos.v1.Apps": AppList(state=channels["state"], rpc_timeout=settings.rpc_timeout_seconds),
        }
        docker_logs = DockerLogs(settings.docker_host, timeout=settings.rpc_timeout_seconds)
        return cls(
            authenticator=authenticator,
            handlers=with_long_calls(
                resolve_handlers(
                    routes,
                    implementations,
                    channels,
                    timeout=settings.rpc_timeout_seconds,
                    timeouts={
                        "appos.v1.Stores.AddStore": settings.store_add_timeout_seconds,
                        "appos.v1.Servers.AddServer": 60.0,  # SSH, host key and Docker checks first
                        "appos.v1.Servers.RepinServer": 60.0,
                    },
                ),  # fmt: skip
                channels,
                settings.backup_timeout_seconds,
            ),
            channels=channels,
            redis=redis,
            audit=AuditRecorder(state),
            events=EventHub(state),
            streams=OpenStreams(
                authenticator.authenticate_token,
                per_user=settings.streams_per_user,
                recheck_seconds=settings.stream_recheck_seconds,
                counts=StreamCounts(redis, lapse_seconds=lapse_for(settings.stream_recheck_seconds)),
            ),
            docker_logs=docker_logs,
            app_logs=AppLogs(
                state=state,
                docker=docker_logs,
                rpc_timeout=settings.rpc_timeout_seconds,
                sockets=settings.sockets,
            ),
            second_factor=second_factor,
        )

    async def close(self) -> None:
        await self.streams.close()
        await self.docker_logs.close()
        await self.events.close()
        await self.audit.drain()
        for channel in self.channels.values():
            await channel.close()
        await self.redis.aclose()
