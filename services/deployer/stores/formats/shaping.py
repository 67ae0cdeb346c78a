"""A store's compose file shaped the way catalog/README.md wants it, and the template made of it.

A format fills a `Draft` (the parsed compose file, the metadata, the settings it knows, how its own
variables and data folders read), and `Draft.finish()` does the rest, the same for every format:

    store keys     top-level `name:`/`version:` and every `x-…` key dropped; fixed network and
                   volume names dropped (AppOS scopes them to the app)
    services       each names an image (a `build:` cannot be expressed); container_name dropped
    data folders   the store's host folders for app data become named volumes
    web port       published as "${HTTP_PORT}:<container port>", HTTP_PORT an int setting
    weak secrets   a literal weak password becomes a generated `password` setting
    variables      every `${VAR…}` becomes `${KEY}` of a setting
    template       compose.yaml text + template.json, checked by catalog.TemplateSpec

Nothing here decides what is allowed: the compose file stays faithful (privileged, host paths
other than the store's data folders, devices), for AppOS's policy to judge later."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from services.common.errors import InvalidArgument
from services.deployer import compose as compose_files
from services.deployer.catalog import TemplateSpec, compose_variables, why
from services.deployer.stores.formats.common import (
    DEFAULT_CATEGORY,
    HTTP_PORT,
    Converted,
    EntryError,
    mapping,
    port_number,
)
from services.deployer.stores.formats.variables import (
    Resolver,
    Settings,
    interpolate,
    ref,
    rewrite,
    secret_key,
    weak,
)

# Container ports that are not a web UI (databases, mail, DNS, SSH, brokers).
NOT_WEB_PORTS = frozenset(
    {21, 22, 23, 25, 53, 110, 143, 389, 465, 587, 636, 993, 995, 1433, 1521, 1883, 3306, 5432, 5671, 5672,
     6379, 8883, 9042, 11211, 25565, 27017, 50000}
)  # fmt: skip
_FILE_SUFFIX = re.compile(r"\.(ya?ml|json|toml|conf|cfg|ini|env|txt|xml|sh|js|php|db|sqlite)$", re.IGNORECASE)

# The data folder of a bind source: the part after the store's data folder (it names the volume),
# or None when the source is not one.
DataPath = Callable[[str], str | None]


def _no_resolve(name: str) -> str | None:
    return None


@dataclass
class Draft:
    name: str
    compose: dict[str, Any]
    title: str = ""
    description: str = ""
    category: str = DEFAULT_CATEGORY
    logo: str = ""
    website: str = ""
    web: tuple[str, int] | None = None
    http_port: int = 0  # HTTP_PORT's default
    settings: Settings = field(default_factory=Settings)
    resolve: Resolver = _no_resolve
    data_path: DataPath | None = None
    data_where: str = "the store's data folder"
    networks: tuple[str, ...] = ()  # the store's own networks, dropped

    def note(self, sentence: str) -> None:
        self.settings.note(sentence)

    def finish(self) -> Converted:
        compose = self.compose
        strip_store_keys(compose)
        services = services_of(compose)
        drop_networks(compose, self.networks)
        drop_container_names(compose)
        if self.data_path is not None:
            moved = data_volumes(compose, self.data_path)
            if moved:
                self.note(
                    f"Host folders under {self.data_where} became named volumes ({', '.join(moved)}): "
                    "AppOS keeps app data in volumes."
                )
            files = [name for name, source in moved.items() if _FILE_SUFFIX.search(source.rstrip("/"))]
            if files:
                self.note(
                    f"The store mounted single files as {', '.join(files)}: as volumes they start empty, "
                    "and the app may need those files."
                )
        web = self.web
        if web is not None:
            service, port = web
            if service not in services:
                raise EntryError(f"the web UI's service {service!r} is not in the compose file")
            self.settings.add(
                HTTP_PORT, "int", default=self.http_port, required=True, help="Host port of the web UI"
            )
            publish(services[service], port)
        declare_volumes(compose)
        weak_secrets(compose, self.settings)
        settings, resolve = self.settings, self.resolve
        compose = rewrite(compose, lambda value: interpolate(value, settings, resolve))
        return self._template(compose)

    def _template(self, compose: dict[str, Any]) -> Converted:
        text = yaml.safe_dump(
            compose, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1 << 16
        )
        if len(text.encode()) > compose_files.MAX_COMPOSE_BYTES:
            raise EntryError(f"the compose file is larger than {compose_files.MAX_COMPOSE_BYTES // 1024} KiB")
        used = compose_variables(text)
        specs = self.settings.specs(used)
        missing = used - {s["key"] for s in specs}
        if missing:  # interpolate() makes a setting of every variable: a bug if it did not
            raise EntryError(
                f"the compose file uses variables that are no settings: {', '.join(sorted(missing))}"
            )
        specs.sort(key=lambda s: s["key"] != HTTP_PORT)
        spec: dict[str, Any] = {
            "name": self.name,
            "title": self.title or self.name,
            "description": self.description,
            "category": self.category,
        }
        spec |= {k: v for k, v in (("logo", self.logo), ("website", self.website)) if v}
        if self.web is not None:
            spec["web"] = {"service": self.web[0], "port": self.web[1]}
        spec["settings"] = specs
        try:
            for setting in TemplateSpec.model_validate(spec).settings:
                setting.to_setting()
        except (ValidationError, InvalidArgument) as exc:
            raise EntryError(f"the template made of it is not valid: {why(exc)}") from exc
        return Converted(name=self.name, compose=text, spec=spec, notes=tuple(self.settings.notes))


def strip_store_keys(compose: dict[str, Any]) -> None:
    for key in [k for k in compose if k in ("name", "version") or k.startswith("x-")]:
        del compose[key]
    for service in mapping(compose.get("services"), "services").values():
        if isinstance(service, dict):
            for key in [k for k in service if str(k).startswith("x-")]:
                del service[key]
    for level in ("networks", "volumes"):
        for item in (compose.get(level) or {}).values() if isinstance(compose.get(level), dict) else ():
            if isinstance(item, dict) and not item.get("external"):
                item.pop("name", None)


def services_of(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = compose.get("services")
    if not isinstance(services, dict) or not services:
        raise EntryError("the compose file defines no services")
    for name, service in services.items():
        if not isinstance(service, dict):
            raise EntryError(f"service {name} is not a mapping")
        if service.get("build") is not None:
            raise EntryError(f"service {name} builds an image from source, which AppOS stores cannot do")
        if not isinstance(service.get("image"), str) or not service["image"].strip():
            raise EntryError(f"service {name} names no image")
    return services


def drop_networks(compose: dict[str, Any], names: tuple[str, ...]) -> None:
    if not names:
        return
    networks = compose.get("networks")
    if isinstance(networks, dict):
        for name in names:
            networks.pop(name, None)
        if not networks:
            del compose["networks"]
    for service in compose["services"].values():
        joined = service.get("networks")
        if isinstance(joined, list):
            joined[:] = [n for n in joined if n not in names]
        elif isinstance(joined, dict):
            for name in names:
                joined.pop(name, None)
        if joined is not None and not joined:
            del service["networks"]


def drop_container_names(compose: dict[str, Any]) -> None:
    """container_name is dropped (two apps from one template would clash); when the file refers to
    that name elsewhere, the service keeps it as a network alias."""
    services = compose["services"]
    for name, service in services.items():
        container = service.pop("container_name", None)
        if not isinstance(container, str) or container == name or "network_mode" in service:
            continue
        if container not in yaml.safe_dump(compose, width=1 << 16):
            continue
        joined = service.get("networks") or ["default"]
        if isinstance(joined, list):
            joined = dict.fromkeys(joined)
        for network, options in list(joined.items()):
            options = options if isinstance(options, dict) else {}
            options["aliases"] = [*(options.get("aliases") or []), container]
            joined[network] = options
        service["networks"] = joined


def split_volume(entry: str) -> list[str]:
    """A short-syntax volume `source:target[:mode]`, split on the colons outside `${…}`."""
    parts, depth, current = [], 0, ""
    for char in entry:
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def data_volumes(compose: dict[str, Any], data_path: DataPath) -> dict[str, str]:
    """Turn the binds of the store's data folders into named volumes (one per folder, shared by
    the services that bind it); each volume's name and the folder it replaces."""
    volumes = compose.get("volumes")
    declared: dict[str, Any] = volumes if isinstance(volumes, dict) else {}
    by_source: dict[str, str] = {}

    def volume(source: str) -> str | None:
        part = data_path(source.strip())
        if part is None:
            return None
        if source not in by_source:
            base = re.sub(r"[^a-z0-9]+", "-", part.lower()).strip("-") or "data"
            base = base if len(base) > 1 else f"{base}-data"
            name, number = base, 2
            while name in declared or name in by_source.values():
                name, number = f"{base}-{number}", number + 1
            by_source[source] = name
        return by_source[source]

    for service in compose["services"].values():
        mounts = service.get("volumes")
        if not isinstance(mounts, list):
            continue
        for index, mount in enumerate(mounts):
            if isinstance(mount, str):
                parts = split_volume(mount)
                if len(parts) >= 2 and (name := volume(parts[0])) is not None:
                    mounts[index] = ":".join([name, *parts[1:]])
            elif isinstance(mount, dict) and mount.get("type", "bind") == "bind" and mount.get("source"):
                if (name := volume(str(mount["source"]))) is not None:
                    moved = {k: v for k, v in mount.items() if k not in ("bind", "type", "source")}
                    mounts[index] = {"type": "volume", "source": name, **moved}
    if by_source:
        compose["volumes"] = {**declared, **dict.fromkeys(by_source.values())}
    return {name: source for source, name in by_source.items()}


def declare_volumes(compose: dict[str, Any]) -> None:
    """Declare the named volumes the services use and the file does not (Coolify leaves them out)."""
    used = []
    for service in compose["services"].values():
        for mount in service.get("volumes") if isinstance(service.get("volumes"), list) else []:
            if isinstance(mount, str) and ":" in mount:
                used.append(split_volume(mount)[0])
            elif isinstance(mount, dict) and mount.get("type") == "volume" and mount.get("source"):
                used.append(str(mount["source"]))
    named = [v for v in used if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", v)]
    volumes = compose.get("volumes")
    declared: dict[str, Any] = volumes if isinstance(volumes, dict) else {}
    missing = [v for v in dict.fromkeys(named) if v not in declared]
    if missing:
        compose["volumes"] = {**declared, **dict.fromkeys(missing)}


def port_target(entry: Any) -> tuple[int, str]:
    """The container port and protocol of a `ports:` entry (0 when it is a range or a variable)."""
    if isinstance(entry, dict):
        return port_number(entry.get("target")), str(entry.get("protocol") or "tcp").lower()
    value = str(entry)
    value, _, protocol = value.partition("/")
    return port_number(split_volume(value)[-1]), (protocol or "tcp").lower()


def publish(service: dict[str, Any], port: int) -> None:
    """The web port published as "${HTTP_PORT}:<port>", in place of the store's own mapping."""
    ports = service.get("ports")
    kept = [p for p in ports if port_target(p) != (port, "tcp")] if isinstance(ports, list) else []
    service["ports"] = [f"{ref(HTTP_PORT)}:{port}", *kept]


def guess_web(compose: dict[str, Any]) -> tuple[str, int] | None:
    """The first service's first published TCP port that is no database's or mail's, if any."""
    services = compose.get("services")
    for name, service in services.items() if isinstance(services, dict) else ():
        for entry in service.get("ports") or [] if isinstance(service, dict) else []:
            port, protocol = port_target(entry)
            if port and protocol == "tcp" and port not in NOT_WEB_PORTS:
                return str(name), port
    return None


def weak_secrets(compose: dict[str, Any], settings: Settings) -> None:
    """A weak literal secret in a service's environment becomes `${KEY}` of a generated password;
    every service that set the same value gets the same setting (the app and its database must
    agree), and so does that value as the password of a URL (`postgres://user:changeme@db`)."""
    found: dict[str, str] = {}
    for service in compose["services"].values():
        environment = service.get("environment")
        if isinstance(environment, dict):
            for key, value in environment.items():
                if secret_key(str(key)) and weak(value):
                    environment[key] = ref(_secret(found, str(key), str(value).strip(), settings))
        elif isinstance(environment, list):
            for index, item in enumerate(environment):
                key, equals, value = str(item).partition("=")
                if equals and secret_key(key) and weak(value):
                    environment[index] = f"{key}={ref(_secret(found, key, value.strip(), settings))}"
    if found:
        compose["services"] = rewrite(compose["services"], lambda value: _url_passwords(value, found))


def _url_passwords(value: str, found: dict[str, str]) -> str:
    for literal, key in found.items():
        if f":{literal}@" in value:
            pattern = re.compile(r"(://[^:/@\s]*:)" + re.escape(literal) + "@")
            value = pattern.sub(f"\\g<1>{ref(key)}@", value)
    return value


def _secret(found: dict[str, str], key: str, literal: str, settings: Settings) -> str:
    if literal not in found:
        found[literal] = settings.literal_secret(key, literal)
    return found[literal]
