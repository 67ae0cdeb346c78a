"""Where Caddy sends a domain's traffic: the app's container itself, at its address on the app's own
Compose network and the container port. Never a host port: whatever listens on 127.0.0.1:<port> need
not be the app. Addresses change when Compose recreates a container, so they are looked up each time
the Caddy config is built, never stored. An app on a remote server is dialed at the server's address
and the port Docker published there (`remote.py`)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Mapping
from typing import Any

from appos.v1 import proxy_pb2
from services.common.errors import InvalidArgument, NotFound, Unavailable
from services.common.labels import PROJECT_LABEL, SERVICE_LABEL, project_name
from services.proxyctl.engine import Engine
from services.proxyctl.remote import Remote, bindings, published_dials

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


def _running(engine: Engine, *, app: str, service: str) -> list[dict[str, Any]]:
    containers = engine.containers([f"{PROJECT_LABEL}={project_name(app)}", f"{SERVICE_LABEL}={service}"])
    if not containers:
        raise InvalidArgument(
            f"app {app} has no running container for service {service!r}: start the app (and check "
            "the service name in its compose file), then add the domain"
        )
    return containers


def check_service_port(engine: Engine, *, app: str, service: str, port: int) -> None:
    """Before a domain is added: the service has a running container with an address, and it exposes
    or listens on `port`; else InvalidArgument saying what to do."""
    containers = _running(engine, app=app, service=service)
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


def check_published_port(
    engine: Engine, *, app: str, service: str, port: int, server: str, host: str
) -> None:
    """Before a domain is added for an app on a remote server: its service runs there and Docker
    published container port `port` on an address this machine can reach; else InvalidArgument."""
    containers = _running(engine, app=app, service=service)
    attrs = engine.inspect(str(containers[0].get("Id", "")))
    if published_dials(attrs, port, host=host):
        return
    if bindings(attrs, port):
        raise InvalidArgument(
            f"container port {port} of service {service!r} (app {app}) is published only on the "
            f"loopback of server {server}, which the proxy on this machine cannot reach: publish it "
            f'on every address (`ports: - "HOST_PORT:{port}"`) and redeploy'
        )
    raise InvalidArgument(
        f"app {app} runs on server {server}, where the proxy reaches service {service!r} through "
        f"a published port, and container port {port} is not published: publish it "
        f'(`ports: - "HOST_PORT:{port}"`), redeploy, then add the domain'
    )


def dials(
    engine: Engine,
    domains: Iterable[proxy_pb2.Domain],
    *,
    stopped: str = "",
    remote: Remote | None = None,
) -> dict[str, list[str]]:
    """Domain name → the addresses Caddy dials for it now. A console domain dials its stored upstream
    (AppOS's own gateway); an app domain, every running container of its service (none: not running)
    but `stopped` (the id of a container that just died: Docker may still list it as running); an
    app on a remote server (`remote`), the server's published ports of those containers.
    If an engine does not answer, its app domains get none (they answer 502 until it does)."""
    remote = remote or Remote()
    result: dict[str, list[str]] = {}
    local: list[proxy_pb2.Domain] = []
    elsewhere: dict[str, list[proxy_pb2.Domain]] = {}
    for d in domains:
        if d.console:
            result[d.domain] = [d.upstream]
        elif server := remote.server_of.get(d.app, ""):
            elsewhere.setdefault(server, []).append(d)
        else:
            local.append(d)
    if local:
        result.update(_local_dials(engine, local, stopped=stopped))
    for server, on_server in elsewhere.items():
        result.update(_remote_dials(remote, server, on_server, stopped=stopped))
    return result


def _of_service(running: list[dict[str, Any]], d: proxy_pb2.Domain, stopped: str) -> list[dict[str, Any]]:
    found = []
    for container in running:
        if stopped and container.get("Id") == stopped:
            continue
        labels = container.get("Labels") or {}
        if labels.get(PROJECT_LABEL) == project_name(d.app) and labels.get(SERVICE_LABEL) == d.service:
            found.append(container)
    return found


def _local_dials(engine: Engine, domains: list[proxy_pb2.Domain], *, stopped: str) -> dict[str, list[str]]:
    running: list[dict[str, Any]] = []
    try:
        running = engine.containers([PROJECT_LABEL])
    except Unavailable as exc:
        logger.warning("%s: app domains answer 502 until it does", exc.message)
    result: dict[str, list[str]] = {}
    for d in domains:
        found: set[str] = set()
        for container in _of_service(running, d, stopped):
            address = container_address(container, app=d.app)
            if address is not None:
                found.add(f"{address}:{d.port}")
        result[d.domain] = sorted(found)
    return result


def _remote_dials(
    remote: Remote, server: str, domains: list[proxy_pb2.Domain], *, stopped: str
) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {d.domain: [] for d in domains}
    host = remote.hosts.get(server, "")
    try:
        engine = remote.engine_of(server)
        running = engine.containers([PROJECT_LABEL])
        for d in domains:
            found: set[str] = set()
            for container in _of_service(running, d, stopped):
                found.update(published_dials(engine.inspect(str(container.get("Id", ""))), d.port, host=host))
            result[d.domain] = sorted(found)
    except (Unavailable, NotFound) as exc:
        logger.warning("server %s: %s: its apps' domains answer 502 until it does", server, exc.message)
    return result
