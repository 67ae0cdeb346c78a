"""Host ports a version publishes, and who holds them now. A deploy whose port is taken is refused
before anything of the running version stops: Compose would stop the old container first and then
fail to start the new one, leaving the app down.

    published()   the host ports of a normalized compose config (`docker compose config`)
    Holders       who holds ports right now: AppOS's own ports, other apps' and other programs'
                  containers (Docker), anything listening on this host (a test bind)
    refuse_taken() FailedPrecondition naming each taken port and its holder
    suggest()     a free port near a taken default; suggestions() for a template's port settings

The app's own running containers never count: a new version of the app replaces them.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import docker.errors

from services.common.errors import FailedPrecondition
from services.common.labels import PROJECT_LABEL, app_of_project

APPOS_ITSELF = "AppOS itself"
ANOTHER_PROGRAM = "another program on the server"
_WILDCARDS = ("", "0.0.0.0", "::")
# A published range is checked port by port up to this many (a larger one is Compose's to refuse).
_MAX_RANGE = 1024


@dataclass(frozen=True)
class Published:
    service: str
    host_ip: str
    port: int
    protocol: str  # "tcp" or "udp"


def published(config: Mapping[str, Any]) -> list[Published]:
    """Every fixed host port the services publish (a port left to Docker's choice is never taken)."""
    found: list[Published] = []
    for service, spec in sorted((config.get("services") or {}).items()):
        for entry in (spec or {}).get("ports") or []:
            if not isinstance(entry, dict) or not entry.get("published"):
                continue
            first, _, last = str(entry["published"]).partition("-")
            try:
                low, high = int(first), int(last or first)
            except ValueError:
                continue
            for port in range(low, min(high, low + _MAX_RANGE - 1) + 1):
                found.append(
                    Published(
                        service, str(entry.get("host_ip") or ""), port, str(entry.get("protocol") or "tcp")
                    )
                )
    return found


def _overlaps(a: str, b: str) -> bool:
    return a in _WILDCARDS or b in _WILDCARDS or a == b


def _project_app(labels: Mapping[str, str]) -> str:
    return app_of_project(labels.get(PROJECT_LABEL, ""))


@dataclass(frozen=True)
class _Held:
    host_ip: str
    port: int
    protocol: str
    app: str  # the AppOS app whose container holds it; "" for any other container
    container: str


# A container in one of these states holds its published ports (Docker's inspect says Running).
_HOLDS_PORTS = ("running", "paused", "restarting")


class Holders:
    """Who holds host ports right now. `own_ports`: AppOS's own (REST, public gRPC, proxy), each
    with what it is; `client`: a Docker SDK client. Docker is asked once for its containers (one
    list: the running ones' published ports are in it), and only an app's containers that are not
    running are inspected (their configured ports); a busy engine answers each inspect slowly.
    `for_app`: the app whose ports are checked, when there is one: its own containers are the only
    ones whose configured ports count (`holder(app=…)`), so only its are inspected."""

    def __init__(
        self, *, own_ports: Mapping[int, str], client: Any, local_listeners: bool = True,
        for_app: str | None = None,
    ) -> None:  # fmt: skip
        self.own_ports = dict(own_ports)
        # whether a port no container holds is tried on this machine (not for a remote server's)
        self.local_listeners = local_listeners
        self.held: list[_Held] = []
        # Host ports each app's containers are set to publish, whatever their state: while a deploy
        # replaces a container, the new one holds its port before Docker lists it as running
        self.configured: dict[str, set[tuple[int, str]]] = {}
        for container in client.api.containers(all=True):
            app = _project_app(container.get("Labels") or {})
            if str(container.get("State", "")) not in _HOLDS_PORTS:
                if app and for_app in (None, app):
                    self._configure(app, _port_bindings(client, str(container.get("Id", ""))))
                continue
            names = container.get("Names") or [""]
            name = str(names[0]).lstrip("/")
            for binding in container.get("Ports") or []:
                if not binding.get("PublicPort"):  # exposed, not published
                    continue
                port, protocol = int(binding["PublicPort"]), str(binding.get("Type") or "tcp")
                self.held.append(_Held(str(binding.get("IP") or ""), port, protocol, app, name))
                if app:
                    self.configured.setdefault(app, set()).add((port, protocol))

    def _configure(self, app: str, bindings: Mapping[str, Any]) -> None:
        for private, entries in bindings.items():
            for binding in entries or []:
                with contextlib.suppress(TypeError, ValueError):  # a port left to Docker: no HostPort
                    self.configured.setdefault(app, set()).add(
                        (int(binding.get("HostPort")), private.partition("/")[2] or "tcp")
                    )

    def holder(self, wanted: Published, *, app: str) -> str:
        """Who holds `wanted` other than `app` itself (the `for_app` these holders were read for,
        if any), in words; "" when it is free."""
        if wanted.port in self.own_ports:
            return f"{APPOS_ITSELF} ({self.own_ports[wanted.port]})"
        mine = False
        for held in self.held:
            if held.port != wanted.port or held.protocol != wanted.protocol:
                continue
            if not _overlaps(held.host_ip, wanted.host_ip):
                continue
            if held.app == app:
                mine = True  # the app's own container: the new version replaces it
                continue
            return (
                f"the app {held.app}"
                if held.app
                else f"{ANOTHER_PROGRAM} (Docker container {held.container})"
            )
        if mine or (app and (wanted.port, wanted.protocol) in self.configured.get(app, set())):
            return ""  # the app's own containers: the new version replaces them
        if not self.local_listeners:
            return ""
        return "" if bindable(wanted.host_ip, wanted.port, wanted.protocol) else ANOTHER_PROGRAM


def _port_bindings(client: Any, container_id: str) -> Mapping[str, Any]:
    """The host ports a container is set to publish (`HostConfig.PortBindings`); none when it was
    removed since the list."""
    try:
        attrs = client.api.inspect_container(container_id)
    except docker.errors.NotFound:
        return {}
    return (attrs.get("HostConfig") or {}).get("PortBindings") or {}


def bindable(host_ip: str, port: int, protocol: str = "tcp") -> bool:
    """Could a socket bind this port now? Something listening on it (or, for a wildcard, on any of
    the host's addresses) says no. An address this host does not have counts as free: Docker will
    say what it thinks of it."""
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "in use"
        try:
            probe.bind(
                (host_ip if host_ip not in _WILDCARDS else ("::" if family == socket.AF_INET6 else ""), port)
            )
        except PermissionError:
            return True  # a port below 1024 without the right to bind it: not a sign of a holder
        except OSError as exc:
            return exc.errno != errno.EADDRINUSE  # EADDRNOTAVAIL and others: not ours to judge
    return True


def taken(wanted: Iterable[Published], holders: Holders, *, app: str) -> list[str]:
    """One sentence per taken port (a port published twice by the version is said once)."""
    problems: list[str] = []
    seen: set[tuple[int, str]] = set()
    for item in wanted:
        if (item.port, item.protocol) in seen:
            continue
        seen.add((item.port, item.protocol))
        who = holders.holder(item, app=app)
        if who:
            where = f"{item.port}/udp" if item.protocol == "udp" else str(item.port)
            problems.append(f"service {item.service}: host port {where} is already in use by {who}")
    return problems


def refuse_taken(config: Mapping[str, Any], holders: Holders, *, app: str) -> None:
    problems = taken(published(config), holders, app=app)
    if problems:
        raise FailedPrecondition(f"{'; '.join(problems)}. Choose another host port in the compose file")


def suggest(default: int, holders: Holders, *, app: str = "", tries: int = 200) -> int:
    """The first free port after `default` (0 when none of the next `tries` is free)."""
    for port in range(default + 1, min(default + 1 + tries, 65536)):
        if not holders.holder(Published("", "", port, "tcp"), app=app):
            return port
    return 0


def suggestions(defaults: Mapping[str, int], holders: Holders) -> dict[str, tuple[int, str]]:
    """For each host-port setting (key → default) whose default is taken: a free port (never one
    already suggested for another setting) and why, in words."""
    found: dict[str, tuple[int, str]] = {}
    picked = set(defaults.values())
    for key, default in defaults.items():
        who = holders.holder(Published("", "", default, "tcp"), app="")
        if not who:
            continue
        port = default
        while True:
            port = suggest(port, holders)
            if not port or port not in picked:
                break
        if port:
            picked.add(port)
            found[key] = (port, f"port {default} is already in use by {who}, so {port} was picked")
    return found
