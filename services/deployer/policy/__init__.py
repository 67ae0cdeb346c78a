"""The compose policy: an allow-list of what an app may ask of Docker, checked on the normalized
project that `docker compose config` prints, at validation and again right before every operation
that makes Compose create or start containers.

Each refusal names the rule an admin can grant for one app (`privileged`, `cap_add:NET_ADMIN`,
`host_path:/srv/media`, …; `RULES` lists them). Some refusals no exception lifts: a bind of the app's
own folder, of a folder that holds another path of the project, a symlink on a path. Keys AppOS does
not know are refused (`key:<name>`), so a future Compose feature fails closed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.common.errors import InvalidArgument
from services.deployer.policy.paths import HostPath, check_on_disk, host_violations, layout_violations
from services.deployer.policy.rules import ServiceRules, top_level
from services.deployer.policy.violations import Violation, granted

__all__ = [
    "RULES",
    "HostPath",
    "Violation",
    "check_on_disk",
    "enforce",
    "granted",
    "host_violations",
    "project_paths",
    "refuse",
    "validate_exceptions",
    "violations",
]

# name → what it lets through (shown by the API, the console and the docs)
RULES: dict[str, str] = {
    "privileged": "privileged containers, hooks and builds (full control of the host)",
    "cap_add:<CAP>": "one Linux capability beyond Docker's defaults, e.g. cap_add:NET_ADMIN",
    "network_mode:host": "the host's network stack",
    "pid:host": "the host's processes",
    "ipc:host": "the host's shared memory",
    "uts:host": "the host's hostname",
    "userns_mode:host": "user namespace settings (host)",
    "cgroup:host": "the host's cgroup namespace",
    "container": "joining or reading containers, volumes or networks outside the app",
    "devices": "host devices (devices, device_cgroup_rules, gpus, device reservations)",
    "docker_socket": "the Docker socket (full control of the host)",
    "host_path:<path>": "a host path outside the app's folder and below it, e.g. host_path:/srv/media",
    "security_opt": (
        "security options beyond no-new-privileges and an SELinux level "
        "(seccomp, apparmor or SELinux unconfined)"
    ),
    "network_driver": (
        "network drivers other than bridge (macvlan, ipvlan, host), bridge options, and subnets outside "
        "private ranges or on the host's routes"
    ),
    "volume_driver": "volume drivers other than local, and local driver options other than a bind or tmpfs",
    "cgroup_parent": "a cgroup parent of the host's",
    "runtime": "another container runtime",
    "sysctls": "kernel settings outside the container's own namespaces",
    "oom_kill_disable": "exemption from the out-of-memory killer (also a negative oom_score_adj)",
    "logging_driver": "log drivers that send logs off the app (syslog, gelf, fluentd, …)",
    "key:<name>": "a compose key AppOS does not know, unchecked",
}
_SIMPLE = frozenset(name for name in RULES if "<" not in name)
_CAP = re.compile(r"^cap_add:[A-Z0-9_]{2,32}$")
_KEY = re.compile(r"^key:[a-z0-9_.-]{1,64}$")


def validate_exceptions(names: Sequence[str]) -> list[str]:
    """The exceptions as they will be stored (sorted, unique), or InvalidArgument naming the first
    name that is not a rule."""
    out = set()
    for raw in names:
        name = raw.strip()
        if name.startswith("cap_add:"):
            name = "cap_add:" + name.removeprefix("cap_add:").upper().removeprefix("CAP_")
        if name.startswith("host_path:"):
            path = name.removeprefix("host_path:")
            if (
                not path.startswith("/")
                or os.path.normpath(path) != (path.rstrip("/") or "/")
                or "\x00" in path
            ):
                raise InvalidArgument(
                    f"policy exception {raw!r}: host_path names an absolute, normalized host path, "
                    "e.g. host_path:/srv/media"
                )
            name = "host_path:" + os.path.normpath(path)
        elif not (name in _SIMPLE or _CAP.fullmatch(name) or _KEY.fullmatch(name)):
            if name == "host_path":
                raise InvalidArgument(
                    "policy exception 'host_path' must name the path it allows, e.g. host_path:/srv/media"
                )
            raise InvalidArgument(f"unknown policy exception {raw!r}; known: {', '.join(RULES)}")
        out.add(name)
    return sorted(out)


def project_paths(config: dict[str, Any], app_dir: Path) -> tuple[list[Violation], list[HostPath]]:
    """Every rule the project breaks except those about paths, and every host path it uses."""
    project = str(config.get("name") or "")
    found, paths = top_level(config, project, app_dir)
    services = config.get("services") or {}
    for name, service in sorted(services.items()):
        rules = ServiceRules(str(name), service or {}, set(services), app_dir)
        found += rules.violations()
        paths += rules.paths
    return found, paths


def _all(
    config: dict[str, Any], app_dir: Path, running: Sequence[str]
) -> tuple[list[Violation], list[HostPath]]:
    found, paths = project_paths(config, app_dir)
    for item in paths:
        found += host_violations(item, app_dir)
    found += layout_violations(paths, app_dir, running)
    return found, paths


def violations(config: dict[str, Any], app_dir: Path, running: Sequence[str] = ()) -> list[Violation]:
    """Everything the project breaks (lexically: nothing on disk is read)."""
    return _all(config, app_dir, running)[0]


def enforce(
    config: dict[str, Any], app_dir: Path, allowed: Sequence[str], running: Sequence[str] = ()
) -> list[HostPath]:
    """InvalidArgument naming every refused key and its rule, unless an admin granted that rule;
    else the project's host paths (for the checks on disk)."""
    found, paths = _all(config, app_dir, running)
    refuse(found, allowed)
    return paths


def refuse(found: list[Violation], allowed: Sequence[str]) -> None:
    """InvalidArgument naming each refusal not granted, and what can be done about them (clients
    split the advice off at ". An admin can allow")."""
    refused = [v for v in found if not granted(v.rule, list(allowed))]
    if not refused:
        return
    advice = (
        "An admin can allow a rule for this app on its Options page (policy exceptions), or change the file"
        if any(v.rule for v in refused)
        else "An admin can allow none of these: change the file"
    )
    items = dict.fromkeys(v.text() for v in refused)
    raise InvalidArgument(f"compose policy: {'; '.join(items)}. {advice}.")
