"""What Docker says about an app: its containers, and one status for the whole app."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from docker.errors import NotFound

from services.common.labels import PROJECT_LABEL, SERVICE_LABEL, is_oneoff, project_name


def describe(container: Any) -> dict[str, Any]:
    attrs = container.attrs
    state = attrs.get("State", {})
    ports = []
    for private, bindings in sorted((attrs.get("NetworkSettings", {}).get("Ports") or {}).items()):
        for binding in bindings or []:
            ports.append(f"{binding.get('HostIp') or '0.0.0.0'}:{binding.get('HostPort')}->{private}")
    return {
        "service": attrs.get("Config", {}).get("Labels", {}).get(SERVICE_LABEL, ""),
        "container": attrs.get("Name", "").lstrip("/"),
        "state": state.get("Status", ""),
        "health": (state.get("Health") or {}).get("Status", ""),
        "exit_code": int(state.get("ExitCode") or 0),
        "ports": ports,
    }


def containers_of(client: Any, app: str) -> list[Any]:
    """Every container of the app's Compose project, running or not."""
    # ignore_removed: a container removed between the list and its inspect is simply not listed
    return list(
        client.containers.list(
            all=True, filters={"label": f"{PROJECT_LABEL}={project_name(app)}"}, ignore_removed=True
        )
    )


def app_containers(client: Any, app: str) -> list[dict[str, Any]]:
    found = containers_of(client, app)
    return [describe(c) for c in found if not is_oneoff(c.labels)]


@dataclass(frozen=True, order=True)
class BindMount:
    """A bind of one of the app's containers: Docker resolves its source again each time that
    container starts; a running container can write into it now."""

    source: str
    read_only: bool
    running: bool


def bind_mounts(client: Any, app: str) -> list[BindMount]:
    """Every host folder the app's containers mount, running or not: bind mounts, and local volumes
    made with a bind `device` (Docker mounts that folder again at each start, as for a bind)."""
    found = set()
    devices: dict[str, str] = {}
    for container in containers_of(client, app):
        running = bool(container.attrs.get("State", {}).get("Running", False))
        for mount in container.attrs.get("Mounts") or []:
            read_only = not mount.get("RW", True)
            if mount.get("Type") == "bind" and mount.get("Source"):
                found.add(BindMount(str(mount["Source"]), read_only, running))
            elif mount.get("Type") == "volume" and mount.get("Name"):
                name = str(mount["Name"])
                if name not in devices:
                    devices[name] = _bind_device(client, name)
                if devices[name]:
                    found.add(BindMount(devices[name], read_only, running))
    return sorted(found)


def _bind_device(client: Any, volume: str) -> str:
    """The host folder a local volume binds ("" for an ordinary volume)."""
    try:
        attrs = client.volumes.get(volume).attrs
    except NotFound:  # removed meanwhile: it mounts nothing
        return ""
    options = attrs.get("Options") or {}
    if attrs.get("Driver") != "local" or "bind" not in str(options.get("o", "")).split(","):
        return ""
    device = str(options.get("device") or "")
    # a relative device is read from dockerd's working folder: `/` as far as a check can tell
    return os.path.normpath(os.path.join("/", device)) if device else ""


# Exit codes of a container that was stopped (SIGTERM, or SIGKILL after the stop timeout), not crashed.
_STOPPED_CODES = (0, 137, 143)


def _crashed(service: dict[str, Any]) -> bool:
    return service["state"] != "running" and service["exit_code"] not in _STOPPED_CODES


def summarize(services: list[dict[str, Any]]) -> tuple[str, str]:
    """(status, message) of an app from its containers."""
    if not services:
        return "stopped", "no containers"
    running = [s for s in services if s["state"] == "running"]
    unhealthy = [s["service"] for s in running if s["health"] == "unhealthy"]
    crashed = [s for s in services if _crashed(s)]
    if unhealthy:
        return "unhealthy", f"unhealthy: {', '.join(sorted(unhealthy))}"
    if len(running) == len(services):
        starting = [s["service"] for s in running if s["health"] == "starting"]
        return "running", f"starting: {', '.join(sorted(starting))}" if starting else ""
    if crashed and not running:
        first = sorted(crashed, key=lambda s: s["service"])[0]
        return "failed", f"service {first['service']} exited with code {first['exit_code']}"
    if not running:
        return "stopped", ""
    down = sorted(s["service"] for s in services if s["state"] != "running")
    return "partially_running", f"not running: {', '.join(down)}"


def failure_reason(services: list[dict[str, Any]]) -> str:
    """Why a deployment failed, naming the service, from the containers it left."""
    for s in sorted(services, key=lambda s: s["service"]):
        if _crashed(s):
            return f"service {s['service']} exited with code {s['exit_code']}"
        if s["health"] == "unhealthy":
            return f"service {s['service']} is unhealthy"
        if s["state"] not in ("running",):
            return f"service {s['service']} is {s['state']}"
    return ""
