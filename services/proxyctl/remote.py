"""Apps on remote servers, as Caddy on this machine reaches them: the container cannot be dialed on
its Compose network (that network exists only on its server), so Caddy dials the server at the
port Docker published for the container port — the host and port Docker reports in the container's
inspect (through the server's forwarded socket), never a guess. The host is the server's SSH host
(its address in state), unless Docker bound the port to one address of the server: then that one.
A port published on the server's loopback only cannot be reached from here and is not dialed."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from appos.v1 import state_pb2
from services.common import engines
from services.common.errors import NotFound
from services.common.state_client import StateClient
from services.proxyctl.engine import Engine

# A remote engine answers through an SSH connection: a server whose network is cut must not hold
# the config (and every domain's change) for long.
REMOTE_TIMEOUT_SECONDS = 5.0
_ANY = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class Remote:
    """Which app runs on which remote server (apps on `local` are not in `server_of`), the host
    Caddy dials for each server, and each server's engine."""

    server_of: Mapping[str, str] = field(default_factory=dict)
    hosts: Mapping[str, str] = field(default_factory=dict)
    engine: Callable[[str], Engine] | None = None

    def engine_of(self, server: str) -> Engine:
        if self.engine is None:
            raise NotFound(f"server {server!r} is not known")
        return self.engine(server)


def read(state: StateClient, *, sockets: Path) -> Remote:
    """From state now: each app's server, each server's address."""
    apps = state.stub.ListApps(state_pb2.StateListAppsRequest()).apps
    server_of = {a.name: a.server for a in apps if engines.is_remote(a.server)}
    if not server_of:
        return Remote()
    rows = state.stub.ListServers(state_pb2.StateListServersRequest()).servers
    return Remote(
        server_of=server_of,
        hosts={row.name: host_of(row.address) for row in rows},
        engine=lambda server: engine_for(sockets, server),
    )


def engine_for(sockets: Path, server: str) -> Engine:
    """The remote server's engine, through the socket its SSH connection forwards."""
    return Engine(engines.docker_host(sockets, server, ""), timeout=REMOTE_TIMEOUT_SECONDS)


def host_of(address: str) -> str:
    """`ssh://user@host:port` or `tcp://host:port` → `host` (an IPv6 address without its brackets)."""
    try:
        return urlsplit(address).hostname or ""
    except ValueError:
        return ""


def bindings(attrs: Mapping[str, Any], port: int) -> list[tuple[str, str]]:
    """(HostIp, HostPort) of each host binding Docker reports for container port `port`/tcp."""
    ports: Mapping[str, Any] = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    return [
        (str(b.get("HostIp") or ""), str(b.get("HostPort") or ""))
        for b in ports.get(f"{port}/tcp") or []
        if b and b.get("HostPort")
    ]


def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def published_dials(attrs: Mapping[str, Any], port: int, *, host: str) -> list[str]:
    """Where Caddy dials container port `port` of a remote server's container (inspect `attrs`):
    `host:<HostPort>` for a port bound to every address, `<HostIp>:<HostPort>` for one bound to
    one address, none for a loopback binding (only the server itself reaches it)."""
    found: set[str] = set()
    for ip, host_port in bindings(attrs, port):
        if is_loopback(ip):
            continue
        address = host if ip in _ANY else ip
        if not address:
            continue
        found.add(f"[{address}]:{host_port}" if ":" in address else f"{address}:{host_port}")
    return sorted(found)
