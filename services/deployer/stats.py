"""CPU and memory of an app's containers, counted the way `docker stats` counts them.

One call takes two one-shot samples of each running container a short interval apart (Docker's
own `precpu_stats` is empty in a one-shot sample, and a non-one-shot one waits for two of the
engine's 1-second collection cycles) and reports the CPU used between them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from docker.errors import APIError, DockerException, NotFound

from appos.v1 import apps_pb2
from services.common.errors import Unavailable
from services.common.labels import is_oneoff
from services.deployer.runtime import containers_of, describe

SAMPLE_SECONDS = 0.5


@dataclass(frozen=True)
class ContainerUsage:
    service: str
    container: str
    state: str
    cpu_percent: float = 0.0
    memory_bytes: int = 0
    memory_limit_bytes: int = 0

    def to_pb(self) -> apps_pb2.ContainerStats:
        return apps_pb2.ContainerStats(
            service=self.service, container=self.container, state=self.state,
            cpu_percent=self.cpu_percent, memory_bytes=self.memory_bytes,
            memory_limit_bytes=self.memory_limit_bytes,
        )  # fmt: skip


@dataclass(frozen=True)
class AppUsage:
    app: str
    containers: list[ContainerUsage]
    sampled_at: datetime

    def to_pb(self) -> apps_pb2.AppStats:
        reply = apps_pb2.AppStats(app=self.app, containers=[c.to_pb() for c in self.containers])
        reply.sampled_at.FromDatetime(self.sampled_at)
        return reply


def _cpu_total(doc: dict[str, Any]) -> int:
    return int((doc.get("cpu_stats") or {}).get("cpu_usage", {}).get("total_usage") or 0)


def cpu_percent(before: dict[str, Any], after: dict[str, Any]) -> float:
    """CPU share between two stats documents, 100 per fully used CPU (the CLI's calculateCPUPercentUnix)."""
    cpu_delta = _cpu_total(after) - _cpu_total(before)
    cpu_after = after.get("cpu_stats") or {}
    system_delta = int(cpu_after.get("system_cpu_usage") or 0) - int(
        (before.get("cpu_stats") or {}).get("system_cpu_usage") or 0
    )
    online = int(cpu_after.get("online_cpus") or 0) or len(
        cpu_after.get("cpu_usage", {}).get("percpu_usage") or ()
    )
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0
    return cpu_delta / system_delta * max(online, 1) * 100.0


def memory_used(doc: dict[str, Any]) -> int:
    """Memory in use less the inactive page cache (cgroup v1 `total_inactive_file`, v2 `inactive_file`)."""
    memory = doc.get("memory_stats") or {}
    usage = int(memory.get("usage") or 0)
    details = memory.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):
        if key in details and int(details[key]) < usage:
            return usage - int(details[key])
    return usage


def memory_limit(doc: dict[str, Any]) -> int:
    return int((doc.get("memory_stats") or {}).get("limit") or 0)


def sample_app(
    docker_factory: Callable[[], Any],
    app: str,
    *,
    interval: float = SAMPLE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> AppUsage:
    """Usage of every container of `app` (zero for those not running), sorted by service."""
    try:
        client = docker_factory()
        try:
            containers = [c for c in containers_of(client, app) if not is_oneoff(c.labels)]
            running = [c for c in containers if describe(c)["state"] == "running"]
            first = {c.id: _one_shot(c) for c in running}
            if any(doc is not None for doc in first.values()):
                sleep(interval)
            second = {c.id: _one_shot(c) if first[c.id] is not None else None for c in running}
        finally:
            client.close()
    except (DockerException, requests.RequestException) as exc:
        raise Unavailable(f"Docker did not answer: {exc}") from exc
    usage = []
    for container in containers:
        info = describe(container)
        before, after = first.get(container.id), second.get(container.id)
        if before is None or after is None:
            state = info["state"] if info["state"] != "running" else "gone"
            usage.append(ContainerUsage(service=info["service"], container=info["container"], state=state))
            continue
        usage.append(
            ContainerUsage(
                service=info["service"],
                container=info["container"],
                state=info["state"],
                cpu_percent=round(cpu_percent(before, after), 2),
                memory_bytes=memory_used(after),
                memory_limit_bytes=memory_limit(after),
            )  # fmt: skip
        )
    usage.sort(key=lambda u: (u.service, u.container))
    return AppUsage(app=app, containers=usage, sampled_at=datetime.now(UTC))


def _one_shot(container: Any) -> dict[str, Any] | None:
    """One stats document; None when the container went away meanwhile.

    A container removed while the engine collects its sample answers 404, 409 (removal in
    progress) or an empty body (which docker-py reports as a JSON decode error), depending on when.
    """
    try:
        doc: dict[str, Any] = container.stats(stream=False, one_shot=True)
    except NotFound:
        return None
    except APIError as exc:
        if exc.status_code == 409:
            return None
        raise
    except requests.JSONDecodeError:
        return None
    return doc
