"""Where Caddy sends a domain's traffic: the app's container itself, at its address on the app's own
Compose network and the container port. Never a host port: whatever listens on 127.0.0.1:<port> need
not be the app. Addresses change when Compose recreates a container, so they are looked up each time
the Caddy config is built, never stored."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Mapping
from typing import Any

from appos.v1 import proxy_pb2
from services.common.errors import InvalidArgument, Unavailable
from services.common.labels import PROJECT_LABEL, SERVICE_LABEL, project_name
from services.proxyctl.engine import Engine

logger = logging.getLogger(__name__)

LISTEN_PROBE_SECONDS = 2.0


def describe(*, app: str, service: str, port: int) -> str:
    """What state records as an app domain's upstream: the address itself changes with the container."""
    return f"app:{app}/{service}:{port}"


def console_upstream(host: str, port: int) -> str:
    return f"{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"


def container_address(container: Mapping[str, Any], *, app: str) -> str | None:
    """The container's address (a Docker container list entry, or `inspect` attrs): on the app's own
    Compose network (`appos-<app>_…`) when it has one, else on any network that gave it an address."""
    networks: Mapping[str, Any] = (container.get("NetworkSettings") or {}).get("Networks") or {}
    own = f"{project_name(app)}_"
    for name in sorted(networks, key=lambda name: (not name.startswith(own), name)):
        network = networks[name] or {}
        if network.get("IPAddress"):
            return str(network["IPAddress"])
        if network.get("GlobalIPv6Address"):
            return f"[{network['GlobalIPv6Address']}]"
    return None


def exposes(container: Mapping[str, Any], port: int) -> bool:
    """The container publishes or exposes `port`/tcp (the `Ports` of a Docker container list entry)."""
    ports = container.get("Ports") or []
    return any(p.get("PrivatePort") == port and p.get("Type", "tcp") == "tcp" for p in ports)


def listens(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address.strip("[]"), port), timeout=LISTEN_PROBE_SECONDS):
            return True
    except OSError:
        return False


def check_service_port(engine: Engine, *, app: str, service: str, port: int) -> None:
    """Before a domain is added: the service has a running container with an address, and it exposes
    or listens on `port`; else InvalidArgument saying what to do."""
    containers = engine.containers([f"{PROJECT_LABEL}={project_name(app)}", f"{SERVICE_LABEL}={service}"])
    if not containers:
        raise InvalidArgument(
            f"app {app} has no running container for service {service!r}: start the app (and check "
            "the service name in its compose file), then add the domain"
        )
    address = container_address(containers[0], app=app)
    if address is None:
        raise InvalidArgument(
            f"service {service!r} of app {app} has no address on a Docker network (network_mode host or "
            "none?): the proxy reaches apps on their Compose network, so give the service one"
        )
    if not exposes(containers[0], port) and not listens(address, port):
        raise InvalidArgument(
            f"service {service!r} of app {app} does not expose or listen on port {port}: give the "
            "container port the service listens on (the right-hand side of its `ports:`, or one in "
            "`expose:`)"
        )


def dials(engine: Engine, domains: Iterable[proxy_pb2.Domain], *, stopped: str = "") -> dict[str, list[str]]:
    """Domain name → the addresses Caddy dials for it now. A console domain dials its stored upstream
    (AppOS's own gateway); an app domain, every running container of its service (none: not running)
    but `stopped` (the id of a container that just died: Docker may still list it as running).
    If Docker does not answer, app domains get none (they answer 502 until it does)."""
    result: dict[str, list[str]] = {}
    apps: list[proxy_pb2.Domain] = []
    for d in domains:
        if d.console:
            result[d.domain] = [d.upstream]
        else:
            apps.append(d)
    if not apps:
        return result
    running: list[dict[str, Any]] = []
    try:
        running = engine.containers([PROJECT_LABEL])
    except Unavailable as exc:
        logger.warning("%s: app domains answer 502 until it does", exc.message)
    for d in apps:
        found: set[str] = set()
        for container in running:
            if stopped and container.get("Id") == stopped:
                continue
            labels = container.get("Labels") or {}
            if labels.get(PROJECT_LABEL) == project_name(d.app) and labels.get(SERVICE_LABEL) == d.service:
                address = container_address(container, app=d.app)
                if address is not None:
                    found.add(f"{address}:{d.port}")
        result[d.domain] = sorted(found)
    return result
