"""The public System service, served by the gateway: health of every part, installation facts, and
the rotation of the key access tokens are signed with."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import socket
from collections.abc import Awaitable, Callable

import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis

from appos.v1 import state_pb2, state_pb2_grpc, system_pb2
from services.common.clients import aio_call, call_metadata
from services.common.dockerd import docker_client
from services.common.timestamps import now_us, set_ts
from services.gateway.context import CallContext
from services.gateway.host_stats import HostSampler
from services.gateway.signing_key import SigningKey

logger = logging.getLogger(__name__)

VERSION = "0.1.0"
WORKER_HEALTH = "appos.worker"
CADDY_HEALTH = "appos.caddy"
CHECK_TIMEOUT = 2.0


class SystemService:
    def __init__(
        self,
        *,
        channels: dict[str, grpc.aio.Channel],
        redis: Redis,
        docker_host: str,
        state: state_pb2_grpc.StateStub,
        signing_key: SigningKey,
        rpc_timeout: float,
        host: HostSampler | None = None,
    ) -> None:
        self._host = host
        self._channels = channels
        self._signing_key = signing_key
        self._redis = redis
        self._docker_host = docker_host
        self._state = state
        self._timeout = rpc_timeout
        self.started_at = now_us()

    async def _grpc_part(self, name: str, channel: grpc.aio.Channel, service: str = "") -> None:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=CHECK_TIMEOUT)
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            raise RuntimeError(
                f"{name} reports {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
            )

    async def _redis_part(self) -> None:
        await self._redis.ping()

    def _docker_ping(self) -> None:
        client = docker_client(self._docker_host, int(CHECK_TIMEOUT) + 1)
        try:
            client.ping()
        finally:
            client.close()

    async def _docker_part(self) -> None:
        await asyncio.to_thread(self._docker_ping)

    async def _check(self, name: str, probe: Callable[[], Awaitable[None]]) -> system_pb2.HealthPart:
        try:
            await asyncio.wait_for(probe(), timeout=CHECK_TIMEOUT + 1)
        except grpc.aio.AioRpcError as exc:
            reason = "not answering" if exc.code() is grpc.StatusCode.UNAVAILABLE else exc.code().name.lower()
            return system_pb2.HealthPart(name=name, status="down", message=reason)
        except TimeoutError:
            return system_pb2.HealthPart(name=name, status="down", message="timed out")
        except Exception as exc:  # noqa: BLE001 - any failure of a probe means the part is down
            logger.warning("health: the %s check failed: %s: %s", name, type(exc).__name__, exc)
            return system_pb2.HealthPart(name=name, status="down", message="the check failed")
        return system_pb2.HealthPart(name=name, status="ok")

    async def GetHealth(self, request: system_pb2.GetHealthRequest, ctx: CallContext) -> system_pb2.Health:
        checks = [
            self._check(name, lambda name=name, ch=ch: self._grpc_part(name, ch))  # type: ignore[misc]
            for name, ch in self._channels.items()
        ]
        if "deployer" in self._channels:
            # the deployer pings the Celery worker every few seconds and reports it here
            deployer = self._channels["deployer"]
            checks.append(self._check("worker", lambda: self._grpc_part("worker", deployer, WORKER_HEALTH)))
        if "proxyctl" in self._channels:
            # proxyctl asks Caddy's admin API every second and reports it here
            proxyctl = self._channels["proxyctl"]
            checks.append(self._check("caddy", lambda: self._grpc_part("caddy", proxyctl, CADDY_HEALTH)))
        checks.append(self._check("redis", self._redis_part))
        checks.append(self._check("docker", self._docker_part))
        parts = await asyncio.gather(*checks)
        status = "ok" if all(p.status == "ok" for p in parts) else "down"
        return system_pb2.Health(status=status, parts=parts)

    def _docker_version(self) -> str:
        client = docker_client(self._docker_host, int(CHECK_TIMEOUT) + 1)
        try:
            return str(client.version().get("Version", ""))
        finally:
            client.close()

    async def GetInfo(self, request: system_pb2.GetInfoRequest, ctx: CallContext) -> system_pb2.Info:
        try:
            docker_version = await asyncio.wait_for(
                asyncio.to_thread(self._docker_version), CHECK_TIMEOUT + 1
            )
        except Exception as exc:  # noqa: BLE001 - the engine being down is reported by /health
            logger.debug("info: the Docker engine's version is unavailable: %s: %s", type(exc).__name__, exc)
            docker_version = "unavailable"
        events: state_pb2.StateListEventsReply = await aio_call(
            self._state.ListEvents,
            state_pb2.StateListEventsRequest(after_seq=0, limit=1),
            service="state",
            timeout=self._timeout,
        )
        info = system_pb2.Info(
            version=VERSION,
            hostname=socket.gethostname(),
            python=platform.python_version(),
            docker_version=docker_version,
            last_event_seq=events.last_seq,
        )
        set_ts(info.started_at, self.started_at)
        return info

    async def GetHostStats(
        self, request: system_pb2.GetHostStatsRequest, ctx: CallContext
    ) -> system_pb2.HostStats:
        reply = system_pb2.HostStats(cpu_count=os.cpu_count() or 1)
        for s in self._host.samples() if self._host else []:
            sample = reply.samples.add(
                cpu_percent=s.cpu_percent, memory_used_bytes=s.memory_used, memory_total_bytes=s.memory_total,
                disk_used_bytes=s.disk_used, disk_total_bytes=s.disk_total,
            )  # fmt: skip
            set_ts(sample.time, s.time_us)
        return reply

    async def RotateSigningKey(
        self, request: system_pb2.RotateSigningKeyRequest, ctx: CallContext
    ) -> system_pb2.RotateSigningKeyReply:
        caller = ctx.require_caller()
        event = state_pb2.StateAppendEventRequest(
            type="signing_key_rotated",
            subject="signing-key",
            actor=caller.username,
            payload_json=json.dumps({"address": ctx.client_address}),
        )
        # The new key is on disk before the event is recorded (with the audit entry, in its
        # transaction) and takes effect after: if state cannot record it, nothing changes.
        with self._signing_key.rotation():
            await aio_call(
                self._state.AppendEvent,
                event,
                service="state",
                timeout=self._timeout,
                metadata=call_metadata(),
            )
        reply = system_pb2.RotateSigningKeyReply()
        set_ts(reply.rotated_at, now_us())
        return reply


def health_status(reply: system_pb2.Health) -> int:
    """REST status of a health reply: 503 unless every part is up."""
    return 200 if reply.status == "ok" else 503
