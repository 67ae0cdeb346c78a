"""GET /metrics: Prometheus text format (prometheus-client), from the gateway.

Measured in the gateway as they happen: HTTP requests by route template and status, the gateway's
outgoing gRPC calls (`clients.observe_calls`) and the public gRPC port's incoming calls, by method
and code, each with a latency histogram. Read at scrape time (cached for
`APPOS_METRICS_CACHE_SECONDS`, so a busy scraper costs state one query a few seconds): deployments
by action and result and their durations, apps by status and certificate expiry (one `State.GetStats`),
each Celery queue's length in Redis, and the resident memory of every program supervisord runs
(`/proc/<pid>/status`, pids from supervisord's XML-RPC on its Unix socket). No multiprocess mode:
one gateway process serves it all.

Access: a token of any role; with `APPOS_METRICS_PUBLIC_LOCAL=true`, loopback clients need none.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
import xmlrpc.client
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from appos.v1 import state_pb2, state_pb2_grpc
from services.common import queues
from services.common.clients import aio_call, call_metadata, observe_calls
from services.common.errors import AppOSError
from services.common.timestamps import MICROS, now_us, ts_us

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DEPLOY_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
ENDED = ("succeeded", "failed", "cancelled")
APP_STATUSES = ("running", "partially_running", "stopped", "unhealthy", "failed", "deploying")
SOURCE_TIMEOUT = 3.0


def route_templates(routes: Iterable[Any]) -> dict[Any, str]:
    """Each route's endpoint (a Mount's app) → its path template, e.g. `/api/v1/apps/{app}`."""
    found: dict[Any, str] = {}
    for route in routes:
        if isinstance(route, Mount):
            found[route.app] = (route.path or "") + "/{path}"
        elif hasattr(route, "endpoint") and hasattr(route, "path"):
            found[route.endpoint] = route.path
    return found


class Timed:
    """A counter by (labels…, code) and a latency histogram by labels, in plain dicts.

    Only the gateway's event loop writes them (requests, outgoing calls, the public gRPC port all
    run on it) and renders them, so no locks: prometheus_client's own children take a lock per
    increment and per bucket, several microseconds a request on this machine."""

    def __init__(self, name: str, doc: str, labels: tuple[str, ...], code_label: str) -> None:
        self.name, self.doc, self.labels, self.code_label = name, doc, labels, code_label
        self.counts: dict[tuple[str, ...], int] = {}
        # per label tuple: a count per bucket (the last is +Inf), then the sum of seconds
        self.histograms: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], code: str, seconds: float) -> None:
        key = (*labels, code)
        self.counts[key] = self.counts.get(key, 0) + 1
        histogram = self.histograms.get(labels)
        if histogram is None:
            histogram = self.histograms[labels] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        histogram[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        histogram[-1] += seconds

    def collect(self) -> Iterable[Metric]:
        total = CounterMetricFamily(f"{self.name}s", self.doc, labels=[*self.labels, self.code_label])
        for key, count in self.counts.items():
            total.add_metric(list(key), float(count))
        latency = HistogramMetricFamily(
            f"{self.name}_duration_seconds", f"{self.doc}: latency", labels=list(self.labels)
        )
        bounds = [*(str(b) for b in LATENCY_BUCKETS), "+Inf"]
        for labels, histogram in self.histograms.items():
            cumulative = list(accumulate(histogram[:-1]))
            latency.add_metric(list(labels), list(zip(bounds, cumulative, strict=True)), histogram[-1])
        return [total, latency]


class RequestMetrics:
    """The families measured as requests and calls happen."""

    def __init__(self) -> None:
        self.http_requests = Timed(
            "appos_http_request", "HTTP requests by route template", ("method", "route"), "status"
        )
        self.client_calls = Timed(
            "appos_grpc_client_call", "The gateway's gRPC calls to the services", ("method",), "code"
        )
        self.server_calls = Timed(
            "appos_grpc_server_call", "Calls on the public gRPC port", ("method",), "code"
        )

    def http(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.observe((method, route), str(status), seconds)

    def client_call(self, method: str, code: str, seconds: float) -> None:
        self.client_calls.observe((method,), code, seconds)

    def server_call(self, method: str, code: str, seconds: float) -> None:
        self.server_calls.observe((method,), code, seconds)

    def collect(self) -> Iterable[Metric]:
        for family in (self.http_requests, self.client_calls, self.server_calls):
            yield from family.collect()


class MetricsMiddleware:
    """Times every HTTP request and counts it by route template and final status."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._templates: dict[Any, str] = {}

    def route_label(self, scope: Scope) -> str:
        """The matched route's template, never the raw path (bounded cardinality)."""
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return "unmatched"
        label = self._templates.get(endpoint)
        if label is None:
            self._templates = route_templates(scope["app"].router.routes)
            label = self._templates.setdefault(endpoint, "unmatched")
        return label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.http(scope["method"], self.route_label(scope), status, time.perf_counter() - start)


@dataclass
class Snapshot:
    """What the scrape-time sources said, kept for `cache_seconds`."""

    taken: float = 0.0
    stats: state_pb2.StateStats | None = None
    queue_depth: dict[str, int] | None = None
    memory: dict[str, int] = field(default_factory=dict)
    up: dict[str, bool] = field(default_factory=dict)


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def supervised_pids(socket: Path) -> dict[str, int]:
    """Every running program's pid, and supervisord's own, from its XML-RPC interface."""
    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, serverurl=f"unix://{socket}")
    proxy: Any = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
    pids = {"supervisord": int(proxy.supervisor.getPID())}
    for info in proxy.supervisor.getAllProcessInfo():
        if info.get("pid"):
            pids[str(info["name"])] = int(info["pid"])
    return pids


def process_memory(socket: Path) -> dict[str, int]:
    found = {}
    for program, pid in supervised_pids(socket).items():
        rss = rss_bytes(pid)
        if rss is not None:
            found[program] = rss
    return found


class ScrapeCollector:
    """Yields the snapshot's families (the registry calls `collect` while rendering)."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def collect(self) -> Iterable[Metric]:
        snap = self.snapshot
        up = GaugeMetricFamily(
            "appos_metrics_source_up", "Whether a scrape-time source answered", labels=["source"]
        )
        for source, ok in sorted(snap.up.items()):
            up.add_metric([source], 1.0 if ok else 0.0)
        yield up
        if snap.stats is not None:
            yield from _state_families(snap.stats)
        if snap.queue_depth is not None:
            depth = GaugeMetricFamily(
                "appos_queue_depth", "Jobs waiting in each Celery queue", labels=["queue"]
            )
            for queue, length in snap.queue_depth.items():
                depth.add_metric([queue], float(length))
            yield depth
        memory = GaugeMetricFamily(
            "appos_process_resident_memory_bytes", "Resident memory of each AppOS program", labels=["program"]
        )
        for program, rss in sorted(snap.memory.items()):
            memory.add_metric([program], float(rss))
        yield memory


def _state_families(stats: state_pb2.StateStats) -> Iterable[Metric]:
    total = CounterMetricFamily(
        "appos_deployments", "Ended deployments by action and result", labels=["action", "result"]
    )
    active = GaugeMetricFamily(
        "appos_deployments_in_progress", "Deployments pending or running", labels=["status"]
    )
    durations = HistogramMetricFamily(
        "appos_deployment_duration_seconds",
        "Time from a deployment's request to its end, by action and result",
        labels=["action", "result"],
    )
    in_progress = {"pending": 0, "running": 0}
    for row in stats.deployments:
        if row.status in ENDED:
            total.add_metric([row.action, row.status], float(row.count))
            buckets = [(str(b), float(c)) for b, c in zip(DEPLOY_BUCKETS, row.bucket_counts, strict=False)]
            durations.add_metric(
                [row.action, row.status], [*buckets, ("+Inf", float(row.count))], row.duration_sum_seconds
            )
        elif row.status in in_progress:
            in_progress[row.status] += row.count
    for status, count in in_progress.items():
        active.add_metric([status], float(count))
    apps = GaugeMetricFamily("appos_apps", "Apps by status (running apps: status=running)", labels=["status"])
    for status in sorted(set(APP_STATUSES) | set(stats.apps_by_status)):
        apps.add_metric([status], float(stats.apps_by_status.get(status, 0)))
    expiry = GaugeMetricFamily(
        "appos_certificate_expiry_days",
        "Days until each domain's certificate expires",
        labels=["domain", "status"],
    )
    now = now_us()
    for cert in stats.certificates:
        expiry.add_metric(
            [cert.domain, cert.status], round((ts_us(cert.not_after) - now) / MICROS / 86400, 3)
        )
    return [total, active, durations, apps, expiry]


class Metrics:
    """The registry, the request families, and the scrape-time sources."""

    def __init__(self, *, cache_seconds: float, supervisor_socket: Path) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series: noise
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = RequestMetrics()
        self.registry.register(self.requests)
        self.scrape = ScrapeCollector()
        self.registry.register(self.scrape)
        self.cache_seconds = cache_seconds
        self.supervisor_socket = supervisor_socket
        self._lock = asyncio.Lock()
        observe_calls(self.requests.client_call)

    async def refresh(self, runtime: Any) -> None:
        async with self._lock:
            if time.monotonic() - self.scrape.snapshot.taken < self.cache_seconds:
                return
            stats, depth, memory = await asyncio.gather(
                self._stats(runtime), self._queue_depth(runtime), self._memory(), return_exceptions=False
            )
            self.scrape.snapshot = Snapshot(
                taken=time.monotonic(),
                stats=stats,
                queue_depth=depth,
                memory=memory or {},
                up={"state": stats is not None, "redis": depth is not None, "supervisor": memory is not None},
            )

    async def _stats(self, runtime: Any) -> state_pb2.StateStats | None:
        try:
            stub = state_pb2_grpc.StateStub(runtime.channels["state"])
            request = state_pb2.StateGetStatsRequest(duration_buckets=DEPLOY_BUCKETS)
            stats: state_pb2.StateStats = await aio_call(
                stub.GetStats, request, service="state", timeout=SOURCE_TIMEOUT, metadata=call_metadata()
            )
            return stats
        except AppOSError as exc:
            logger.warning("metrics: state did not answer: %s", exc)
            return None

    async def _queue_depth(self, runtime: Any) -> dict[str, int] | None:
        """Each queue's Redis list length (`services.common.queues`: plain names, no Celery import),
        the per-server deployment queues the worker consumes now included (a set it keeps)."""

        async def lengths() -> dict[str, int]:
            servers = sorted(
                name.decode() if isinstance(name, bytes) else str(name)
                for name in await runtime.redis.smembers(queues.SERVER_QUEUES)
            )
            names = [*queues.ALL, *servers]
            found = await asyncio.gather(*(runtime.redis.llen(queue) for queue in names))
            return {queue: int(length) for queue, length in zip(names, found, strict=True)}

        try:
            return await asyncio.wait_for(lengths(), SOURCE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - redis' errors vary; the family is left out
            logger.warning("metrics: redis did not answer: %s", exc)
            return None

    async def _memory(self) -> dict[str, int] | None:
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(process_memory, self.supervisor_socket), SOURCE_TIMEOUT
            )
        except Exception as exc:  # noqa: BLE001 - no supervisord (a test's bare gateway), or it is down
            logger.debug("metrics: supervisord did not answer: %s", exc)
            return None

    def render(self) -> bytes:
        return generate_latest(self.registry)


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


async def metrics_endpoint(request: Request) -> Response:
    """GET /metrics: a token of any role, or nothing from loopback in local-only mode."""
    runtime = request.app.state.runtime
    metrics: Metrics = request.app.state.metrics
    authorization = request.headers.get("authorization")
    local_ok = request.app.state.metrics_public_local and request.client and is_loopback(request.client.host)
    if authorization or not local_ok:
        await runtime.authenticator.authenticate(authorization)  # any role may read metrics
    await metrics.refresh(runtime)
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
