"""The compose policy: what an app may not ask of the host unless an admin allows it for that app.

Checked on the normalized project that `docker compose config` prints (so variables are already
interpolated and relative paths resolved against the app's own folder). Each rule has a name; an
admin's exception for one app names it (e.g. "privileged", "cap_add:NET_ADMIN", "host_path").
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from services.common.errors import InvalidArgument

DANGEROUS_CAPS = frozenset(
    {
        "ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_RAWIO", "SYS_PTRACE", "SYS_BOOT", "SYS_TIME", "NET_ADMIN",
        "DAC_READ_SEARCH", "MAC_ADMIN", "MAC_OVERRIDE", "BPF", "PERFMON", "SYSLOG", "SYS_RESOURCE",
        "LINUX_IMMUTABLE", "AUDIT_CONTROL", "WAKE_ALARM", "BLOCK_SUSPEND",
    }
)  # fmt: skip
HOST_NAMESPACES = ("network_mode", "pid", "ipc", "userns_mode", "uts", "cgroup")
UNCONFINED = ("seccomp:unconfined", "seccomp=unconfined", "apparmor:unconfined", "apparmor=unconfined",
              "label:disable", "label=disable", "systempaths=unconfined", "no-new-privileges:false",
              "no-new-privileges=false")  # fmt: skip
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")

RULES = (
    "privileged",
    "cap_add:<CAP>",
    *(f"{key}:host" for key in HOST_NAMESPACES),
    "devices",
    "docker_socket",
    "host_path",
    "security_opt",
)


def validate_exceptions(names: list[str]) -> list[str]:
    for name in names:
        if name.startswith("cap_add:") and name.removeprefix("cap_add:").upper() in DANGEROUS_CAPS:
            continue
        if name not in RULES or name == "cap_add:<CAP>":
            raise InvalidArgument(f"unknown policy exception {name!r}; known: {', '.join(RULES)}")
    return sorted(set(names))


def _inside(path: str, folder: Path) -> bool:
    real = os.path.realpath(path)
    root = os.path.realpath(folder)
    return real == root or real.startswith(root + os.sep)


def _is_docker_socket(path: str) -> bool:
    return os.path.basename(path) == "docker.sock" or os.path.realpath(path) in DOCKER_SOCKETS


def _host_paths(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(what, host path) of everything in a service that reads the host's file system."""
    found = []
    for volume in service.get("volumes") or []:
        if volume.get("type") == "bind" and volume.get("source"):
            found.append((f"volume {volume['source']}:{volume.get('target', '')}", str(volume["source"])))
    build = service.get("build") or {}
    if isinstance(build, dict) and build.get("context"):
        found.append(("build context", str(build["context"])))
    for env_file in service.get("env_file") or []:
        path = env_file.get("path") if isinstance(env_file, dict) else env_file
        if path:
            # as written (not interpolated): a variable could point anywhere once interpolated
            found.append(("env_file", "/$" if "$" in str(path) else str(path)))
    return found


# Names that reach Docker and Compose's command lines (`logs <service>`, `exec`): no leading "-",
# no path separators, nothing a shell or Docker would read differently.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def _bad_names(name: str, service: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    if not _NAME.fullmatch(name):
        out.append(("name", f"service name {name!r} must be 1-63 letters, digits, '_', '.', '-' (not first)"))
    container = service.get("container_name")
    if container is not None and not _NAME.fullmatch(str(container)):
        out.append(("name", f"service {name}: container_name {container!r} is not a valid container name"))
    return out


def violations(config: dict[str, Any], app_dir: Path) -> list[tuple[str, str]]:
    """Every (rule, message) the project breaks, each message naming the service and the key."""
    out: list[tuple[str, str]] = []
    for name, service in sorted((config.get("services") or {}).items()):
        where = f"service {name}"
        out.extend(_bad_names(name, service))
        if service.get("privileged"):
            out.append(("privileged", f"{where}: privileged is not allowed"))
        for cap in service.get("cap_add") or []:
            cap_name = str(cap).upper().removeprefix("CAP_")
            if cap_name in DANGEROUS_CAPS:
                out.append((f"cap_add:{cap_name}", f"{where}: cap_add {cap_name} is not allowed"))
        for key in HOST_NAMESPACES:
            if str(service.get(key, "")) == "host":
                out.append((f"{key}:host", f"{where}: {key}: host is not allowed"))
        if service.get("devices"):
            out.append(("devices", f"{where}: devices are not allowed"))
        for option in service.get("security_opt") or []:
            if str(option).replace(" ", "") in UNCONFINED:
                out.append(("security_opt", f"{where}: security_opt {option} is not allowed"))
        for what, path in _host_paths(service):
            if _is_docker_socket(path):
                out.append(("docker_socket", f"{where}: {what} mounts the Docker socket"))
            elif not _inside(path, app_dir):
                out.append(("host_path", f"{where}: {what} is outside the app's folder"))
    for name, volume in sorted((config.get("volumes") or {}).items()):
        device = ((volume or {}).get("driver_opts") or {}).get("device")
        if device and str(device).startswith("/") and not _inside(str(device), app_dir):
            out.append(
                ("host_path", f"volume {name}: driver_opts.device {device} is outside the app's folder")
            )
    return out


def enforce(config: dict[str, Any], app_dir: Path, allowed: list[str]) -> None:
    """InvalidArgument naming every refused service/key, unless an admin allowed that rule."""
    refused = [message for rule, message in violations(config, app_dir) if rule not in allowed]
    if refused:
        raise InvalidArgument(
            "compose policy: " + "; ".join(refused) + " (an admin can allow an exception for this app)"
        )
