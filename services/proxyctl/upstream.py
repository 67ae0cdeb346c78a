"""Where Caddy sends a domain's traffic: the app service's published port, else its network address."""

from __future__ import annotations

from typing import Any

from services.common.errors import InvalidArgument

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


def app_upstream(client: Any, *, app: str, service: str, port: int) -> str:
    labels = [f"{PROJECT_LABEL}=appos-{app}", f"{SERVICE_LABEL}={service}"]
    containers = client.containers.list(filters={"label": labels})
    if not containers:
        raise InvalidArgument(f"app {app} has no running container for service {service!r}")
    attrs = containers[0].attrs
    key = f"{port}/tcp"
    for binding in (attrs.get("NetworkSettings", {}).get("Ports") or {}).get(key) or []:
        host_ip = binding.get("HostIp") or "0.0.0.0"
        address = "[::1]" if ":" in host_ip else "127.0.0.1"
        return f"{address}:{binding['HostPort']}"
    exposed = attrs.get("Config", {}).get("ExposedPorts") or {}
    if key in exposed:
        for network in (attrs.get("NetworkSettings", {}).get("Networks") or {}).values():
            if network.get("IPAddress"):
                return f"{network['IPAddress']}:{port}"
    raise InvalidArgument(f"service {service!r} of app {app} does not expose port {port}")


def console_upstream(host: str, port: int) -> str:
    return f"{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
