"""The rules, each a function of one part of the normalized project that yields what it refuses.
Every key is first looked up in the allow-lists of keys.py: what AppOS does not know is refused."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.deployer.policy import keys, subnets
from services.deployer.policy.paths import HostPath, inside, normalize, shown
from services.deployer.policy.violations import Violation

HOST_NAMESPACES = ("network_mode", "pid", "ipc", "uts", "userns_mode", "cgroup")
# Names that reach Docker and Compose's command lines (`logs <service>`, `exec`): no leading "-",
# no path separators, nothing a shell or Docker would read differently.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_REMOTE = re.compile(r"^[a-z][a-z0-9+.-]*://|^git@|^docker-image://|^service:")


def unknown_keys(where: str, value: Any, allowed: frozenset[str]) -> Iterator[Violation]:
    if not isinstance(value, dict):
        return
    for key in sorted(value):
        if key not in allowed and not str(key).startswith("x-"):
            yield Violation(f"key:{key}", f"{where}: {key} is not a key AppOS knows")


def _truthy(value: Any) -> bool:
    return bool(value) and str(value).lower() not in ("false", "0", "no")


class ServiceRules:
    """The checks of one service. `services` are the names in the same project (a service may join
    another service's namespaces or volumes, never a container outside the app)."""

    def __init__(self, name: str, service: dict[str, Any], services: set[str], app_dir: Path) -> None:
        self.name = name
        self.service = service
        self.services = services
        self.app_dir = app_dir
        self.where = f"service {name}"
        self.paths: list[HostPath] = []

    def violations(self) -> Iterator[Violation]:
        s, where = self.service, self.where
        yield from self._names()
        yield from unknown_keys(where, s, keys.SERVICE)
        if _truthy(s.get("privileged")):
            yield Violation("privileged", f"{where}: privileged is not allowed")
        yield from self._caps(s.get("cap_add") or [])
        yield from self._namespaces()
        yield from self._devices()
        yield from self._security_opt()
        for key in ("cgroup_parent", "runtime"):
            if s.get(key):
                yield Violation(key, f"{where}: {key} {s[key]} is not allowed")
        for key, value in sorted((s.get("sysctls") or {}).items()):
            if not str(key).startswith(keys.NAMESPACED_SYSCTLS):
                yield Violation("sysctls", f"{where}: sysctl {key}={value} changes the host's kernel")
        if _truthy(s.get("oom_kill_disable")):
            yield Violation("oom_kill_disable", f"{where}: oom_kill_disable is not allowed")
        if int(s.get("oom_score_adj") or 0) < 0:
            yield Violation("oom_kill_disable", f"{where}: a negative oom_score_adj is not allowed")
        if _truthy(s.get("use_api_socket")):
            yield Violation("docker_socket", f"{where}: use_api_socket gives the container the Docker API")
        yield from self._logging()
        yield from self._links()
        yield from self._hooks()
        yield from self._build()
        yield from self._deploy()
        yield from self._volumes()
        for env_file in s.get("env_file") or []:
            path = env_file.get("path") if isinstance(env_file, dict) else env_file
            if path:
                self._read(f"env_file {path}", str(path))
        label_files = s.get("label_file") or []
        for path in [label_files] if isinstance(label_files, str) else label_files:
            self._read(f"label_file {path}", str(path))

    def _names(self) -> Iterator[Violation]:
        if not _NAME.fullmatch(self.name):
            yield Violation(
                "", f"service name {self.name!r} must be 1-63 letters, digits, '_', '.', '-' (not first)"
            )
        container = self.service.get("container_name")
        if container is not None and not _NAME.fullmatch(str(container)):
            yield Violation("", f"{self.where}: container_name {container!r} is not a valid container name")

    def _caps(self, caps: list[Any]) -> Iterator[Violation]:
        for cap in caps:
            name = str(cap).strip().upper().removeprefix("CAP_")
            if name not in keys.SAFE_CAPS:
                yield Violation(f"cap_add:{name}", f"{self.where}: cap_add {cap} is not allowed")

    def _namespaces(self) -> Iterator[Violation]:
        for key in HOST_NAMESPACES:
            value = str(self.service.get(key) or "").strip()
            if not value:
                continue
            kind, _, target = value.partition(":")
            if value == "host" or key == "userns_mode":
                yield Violation(f"{key}:host", f"{self.where}: {key}: {value} shares the host's namespace")
            elif kind == "service" and target in self.services:
                continue
            elif kind == "container":
                yield Violation("container", f"{self.where}: {key}: {value} joins another container")
            elif key == "network_mode" and value not in ("bridge", "none", "default"):
                yield Violation(
                    "container", f"{self.where}: network_mode {value} joins a network outside the app"
                )
            elif key == "ipc" and value not in ("private", "shareable", "none"):
                yield Violation("container", f"{self.where}: ipc {value} is not allowed")
            elif key in ("pid", "uts") or (key == "cgroup" and value != "private"):
                yield Violation(f"{key}:host", f"{self.where}: {key}: {value} is not allowed")

    def _devices(self) -> Iterator[Violation]:
        s = self.service
        for key in ("devices", "device_cgroup_rules", "gpus"):
            if s.get(key):
                yield Violation("devices", f"{self.where}: {key} gives the container host devices")
        blkio = s.get("blkio_config") or {}
        if isinstance(blkio, dict) and any(v for k, v in blkio.items() if k != "weight"):
            yield Violation("devices", f"{self.where}: blkio_config names host devices")

    def _security_opt(self) -> Iterator[Violation]:
        for option in self.service.get("security_opt") or []:
            spelled = re.sub(r"\s+", "", str(option)).lower().replace("=", ":")
            # SELinux: only an MCS level (to share files between containers); a type such as spc_t or
            # unconfined_t, a user or a role can lift the confinement, and label:disable does
            if spelled in ("no-new-privileges", "no-new-privileges:true", "apparmor:docker-default") or (
                re.fullmatch(r"label:level:s0(?::c[0-9]{1,4}(?:[.,]c[0-9]{1,4})*)?", spelled) is not None
            ):
                continue
            yield Violation("security_opt", f"{self.where}: security_opt {option} is not allowed")

    def _logging(self) -> Iterator[Violation]:
        logging = self.service.get("logging") or {}
        yield from unknown_keys(f"{self.where}: logging", logging, keys.LOGGING)
        driver = logging.get("driver") if isinstance(logging, dict) else None
        if driver and driver not in keys.LOGGING_DRIVERS:
            yield Violation("logging_driver", f"{self.where}: logging driver {driver} sends logs off the app")

    def _links(self) -> Iterator[Violation]:
        if self.service.get("external_links"):
            yield Violation("container", f"{self.where}: external_links reach containers outside the app")
        for entry in self.service.get("volumes_from") or []:
            kind, _, rest = str(entry).partition(":")
            source = rest.split(":")[0] if kind in ("service", "container") else kind
            if kind == "container" or source not in self.services:
                yield Violation("container", f"{self.where}: volumes_from {entry} reads another container")

    def _hooks(self) -> Iterator[Violation]:
        for key in ("post_start", "pre_stop"):
            for hook in self.service.get(key) or []:
                yield from unknown_keys(f"{self.where}: {key}", hook, keys.HOOK)
                if isinstance(hook, dict) and _truthy(hook.get("privileged")):
                    yield Violation("privileged", f"{self.where}: a privileged {key} hook is not allowed")

    def _build(self) -> Iterator[Violation]:
        build = self.service.get("build")
        if not build:
            return
        if not isinstance(build, dict):
            build = {"context": build}
        where = f"{self.where}: build"
        yield from unknown_keys(where, build, keys.BUILD)
        if _truthy(build.get("privileged")):
            yield Violation("privileged", f"{where} privileged is not allowed")
        network = str(build.get("network") or "")
        if network == "host":
            yield Violation("network_mode:host", f"{where} network host shares the host's network")
        elif network not in ("", "default", "none"):
            yield Violation("container", f"{where} network {network} joins a network outside the app")
        contexts = {"context": build.get("context")} | dict(build.get("additional_contexts") or {})
        for label, context in contexts.items():
            text = str(context or "")
            if text and not _REMOTE.match(text):
                self._read(f"build {label} {text}", text)
        context = str(build.get("context") or ".")
        dockerfile = str(build.get("dockerfile") or "")
        if dockerfile and not _REMOTE.match(context):  # read from the host, relative to the context
            base = Path(normalize(context, self.app_dir))
            path = normalize(dockerfile, base)
            if not inside(path, base):  # inside the context: the context's own rule covers it
                self._read(f"build dockerfile {dockerfile}", path)

    def _deploy(self) -> Iterator[Violation]:
        deploy = self.service.get("deploy") or {}
        where = f"{self.where}: deploy"
        yield from unknown_keys(where, deploy, keys.DEPLOY)
        resources = deploy.get("resources") or {} if isinstance(deploy, dict) else {}
        yield from unknown_keys(f"{where}.resources", resources, keys.RESOURCES)
        yield from unknown_keys(f"{where}.resources.limits", resources.get("limits"), keys.RESOURCE_LIMITS)
        reservations = resources.get("reservations") or {}
        for key in ("devices", "generic_resources"):
            if reservations.get(key):
                yield Violation("devices", f"{where}.resources.reservations.{key} reserves host devices")
        allowed = keys.RESOURCE_LIMITS | {"devices", "generic_resources"}
        yield from unknown_keys(f"{where}.resources.reservations", reservations, allowed)

    def _volumes(self) -> Iterator[Violation]:
        for mount in self.service.get("volumes") or []:
            if not isinstance(mount, dict):
                yield Violation("", f"{self.where}: volume {mount!r} is not understood")
                continue
            kind = mount.get("type")
            source = str(mount.get("source") or "")
            if kind == "bind" and source:
                source = shown(normalize(source, self.app_dir), self.app_dir)
            label = (
                f"volume {source}:{mount.get('target', '')}" if source else f"volume {mount.get('target')}"
            )
            yield from unknown_keys(f"{self.where}: {label}", mount, keys.MOUNT)
            if kind not in keys.MOUNT_TYPES:
                yield Violation(
                    f"key:volumes.{kind}", f"{self.where}: {label}: mounts of type {kind} are unknown"
                )
                continue
            yield from unknown_keys(f"{self.where}: {label} bind", mount.get("bind"), keys.MOUNT_BIND)
            yield from unknown_keys(f"{self.where}: {label} volume", mount.get("volume"), keys.MOUNT_VOLUME)
            yield from unknown_keys(f"{self.where}: {label} tmpfs", mount.get("tmpfs"), keys.MOUNT_TMPFS)
            propagation = (mount.get("bind") or {}).get("propagation")
            if propagation and propagation not in keys.BIND_PROPAGATION:
                yield Violation(
                    "key:bind.propagation",
                    f"{self.where}: {label} propagation {propagation} shares mounts with the host",
                )
            if kind == "bind" and mount.get("source"):
                self.paths.append(
                    HostPath(
                        f"{self.where}: {label}",
                        normalize(str(mount["source"]), self.app_dir),
                        mounted=True,
                        read_only=_truthy(mount.get("read_only")),
                    )
                )

    def _read(self, what: str, path: str) -> None:
        self.paths.append(HostPath(f"{self.where}: {what}", normalize(path, self.app_dir), mounted=False))


def owned(name: str, project: str) -> bool:
    return name.startswith(f"{project}_")


def top_level(config: dict[str, Any], project: str, app_dir: Path) -> tuple[list[Violation], list[HostPath]]:
    """Volumes, networks, secrets and configs: drivers, external or foreign names, host files."""
    found: list[Violation] = []
    paths: list[HostPath] = []
    found += unknown_keys("the compose file", config, keys.TOP_LEVEL)
    for name, volume in sorted((config.get("volumes") or {}).items()):
        volume = volume or {}
        where = f"volume {name}"
        found += unknown_keys(where, volume, keys.VOLUME)
        found += _shared(where, volume, project, "volume")
        driver = volume.get("driver") or "local"
        options = {str(k): str(v) for k, v in (volume.get("driver_opts") or {}).items()}
        if driver != "local":
            found.append(Violation("volume_driver", f"{where}: volume driver {driver} is not allowed"))
        elif options:
            kind = options.get("type", "")
            if kind == "tmpfs" and set(options) <= {"type", "device", "o"}:
                continue
            bind = kind in ("", "none") and "bind" in options.get("o", "").split(",")
            if bind and options.get("device") and not os.path.isabs(options["device"]):
                found.append(
                    Violation(
                        "",
                        f"{where}: driver_opts device {options['device']} is read by Docker from its own "
                        "folder, not the app's: bind the folder in the service instead "
                        f"({options['device']}:/path)",
                    )
                )
            elif bind and options.get("device") and set(options) <= {"type", "device", "o"}:
                device = normalize(options["device"], app_dir)
                paths.append(
                    HostPath(f"{where}: driver_opts device {options['device']}", device, mounted=True)
                )
            else:
                found.append(
                    Violation(
                        "volume_driver", f"{where}: driver_opts {options} mount something AppOS cannot check"
                    )
                )
    for name, network in sorted((config.get("networks") or {}).items()):
        network = network or {}
        where = f"network {name}"
        found += unknown_keys(where, network, keys.NETWORK)
        found += _shared(where, network, project, "network")
        driver = network.get("driver") or "bridge"
        if driver not in keys.NETWORK_DRIVERS:
            found.append(
                Violation("network_driver", f"{where}: driver {driver} reaches the host's interfaces")
            )
        extra = set(network.get("driver_opts") or {}) - keys.BRIDGE_OPTIONS
        if extra:
            found.append(Violation("network_driver", f"{where}: driver_opts {', '.join(sorted(extra))}"))
        ipam = network.get("ipam") or {}
        found += unknown_keys(f"{where}: ipam", ipam, keys.IPAM)
        if ipam.get("driver") not in (None, "", "default"):
            found.append(Violation("network_driver", f"{where}: ipam driver {ipam['driver']} is not allowed"))
        found += subnets.violations(f"{where}: ipam", ipam.get("config"))
    for level, allowed_keys in (("secrets", keys.SECRET), ("configs", keys.CONFIG)):
        for name, item in sorted((config.get(level) or {}).items()):
            item = item or {}
            where = f"{level[:-1]} {name}"
            found += unknown_keys(where, item, allowed_keys)
            if _truthy(item.get("external")):
                found.append(Violation("container", f"{where}: external {level} belong to something else"))
            if item.get("file"):
                paths.append(
                    HostPath(
                        f"{where}: file", normalize(str(item["file"]), app_dir), mounted=True, read_only=True
                    )
                )
    return found, paths


def _shared(where: str, item: dict[str, Any], project: str, kind: str) -> list[Violation]:
    name = str(item.get("name") or "")
    if _truthy(item.get("external")) and not owned(name, project):
        return [Violation("container", f"{where}: external {name or 'object'} belongs to something else")]
    if _truthy(item.get("external")) and kind == "volume":
        # what an existing volume mounts (a bind made by an earlier version) is not in this file
        return [
            Violation(
                "",
                f"{where}: external: true hides what the volume mounts; the app's own volumes need "
                "no external: drop it",
            )
        ]
    if name and not owned(name, project):
        return [Violation("container", f"{where}: name {name} is outside this app (drop `name:`)")]
    return []
