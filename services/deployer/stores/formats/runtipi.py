"""Runtipi app store (runtipi/runtipi-appstore): `apps/<id>/config.json` (name, id, port,
categories, short_desc, description, form_fields) and `apps/<id>/docker-compose.yml`, or the newer
`docker-compose.json` (a list of services in Runtipi's own schema, used when `dynamic_config`).

Runtipi's variables: ${APP_PORT} (the web UI's host port → HTTP_PORT), ${APP_DATA_DIR} and
${ROOT_FOLDER_HOST} (host folders → named volumes), ${APP_DOMAIN}/${APP_HOST} (→ PUBLIC_DOMAIN),
${TZ}, ${APP_ID}; each form field's `env_variable` is a setting of the field's type (`random`:
a generated password)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from services.deployer.stores.formats.common import (
    HTTP_PORT,
    Converted,
    Entry,
    EntryError,
    Store,
    category,
    http_port_default,
    mapping,
    slug,
    summary,
    text,
    url,
)
from services.deployer.stores.formats.shaping import Draft, port_target, split_volume
from services.deployer.stores.formats.variables import Settings, key_for, length_for, ref, secret_key, weak

TITLE = "Runtipi"
LAYOUT = "apps/<id>/config.json with docker-compose.yml"
_DATA = re.compile(r"^\$\{?(APP_DATA_DIR|ROOT_FOLDER_HOST)\}?(?:/(.*))?$")
_STORE_NETWORKS = ("tipi_main_network",)
_TYPES = {"number": "int", "boolean": "bool", "password": "password", "random": "password"}


def looks_like(store: Store) -> bool:
    return any(store.is_file(folder / "config.json") for folder in store.folders(store.root / "apps"))


def entries(store: Store, **_: Any) -> Iterator[Entry]:
    for folder in store.folders(store.root / "apps"):
        yield f"apps/{folder.name}", _converter(store, folder)


def _converter(store: Store, folder: Path) -> Callable[[], Converted]:
    return lambda: convert_app(store, folder)


def convert_app(store: Store, folder: Path) -> Converted:
    if not store.is_file(folder / "config.json") and not (folder / "config.json").is_symlink():
        raise EntryError(f"apps/{folder.name} has no config.json")
    config = mapping(store.json(folder / "config.json"), "config.json")
    if config.get("available") is False:
        raise EntryError("the store marks it unavailable")
    if config.get("deprecated") is True:
        raise EntryError("the store marks it deprecated")
    json_file, yml_file = folder / "docker-compose.json", folder / "docker-compose.yml"
    if store.is_file(json_file) and (config.get("dynamic_config") or not yml_file.exists()):
        compose = from_dynamic(mapping(store.json(json_file), "docker-compose.json"))
    elif yml_file.exists() or yml_file.is_symlink():
        compose = mapping(store.yaml(yml_file), store.shown(yml_file))
    else:
        raise EntryError(f"apps/{folder.name} has no docker-compose.yml")
    name = slug(str(config.get("id") or folder.name))
    draft = Draft(
        name=name,
        compose=compose,
        title=text(config.get("name")) or name,
        description=summary(config.get("short_desc"), config.get("description")),
        category=category(config.get("categories") or []),
        website=url(config.get("website") or config.get("source")),
        data_path=_data_path,
        data_where="${APP_DATA_DIR}",
        networks=_STORE_NETWORKS,
    )
    services = mapping(compose.get("services"), "services")
    for service in services.values():
        if isinstance(service, dict) and isinstance(service.get("labels"), (dict, list)):
            _drop_proxy_labels(service)
    web = _web(services)
    if web is not None:
        draft.web, draft.http_port = web, http_port_default(name, config.get("port"))
    fields = {str(f.get("env_variable")): f for f in config.get("form_fields") or [] if isinstance(f, dict)}
    draft.resolve = _resolver(draft.settings, name, fields)
    return draft.finish()


def _drop_proxy_labels(service: dict[str, Any]) -> None:
    """Runtipi's Traefik and bookkeeping labels: AppOS runs its own proxy."""
    labels = service["labels"]
    if isinstance(labels, dict):
        kept: dict[str, Any] | list[Any] = {
            k: v for k, v in labels.items() if not str(k).startswith(("traefik.", "runtipi."))
        }
    else:
        kept = [item for item in labels if not str(item).startswith(("traefik.", "runtipi."))]
    if kept:
        service["labels"] = kept
    else:
        del service["labels"]


def _web(services: dict[str, Any]) -> tuple[str, int] | None:
    """The service whose port Runtipi publishes on ${APP_PORT}, and its container port."""
    for name, service in services.items():
        for entry in (service.get("ports") or []) if isinstance(service, dict) else []:
            published = str(
                entry.get("published") if isinstance(entry, dict) else split_volume(str(entry))[0]
            )
            port, protocol = port_target(entry)
            if "APP_PORT" in published and port and protocol == "tcp":
                return name, port
    return None


def _data_path(source: str) -> str | None:
    match = _DATA.match(source)
    if match is None:
        return None
    return match.group(2) or ("data" if match.group(1) == "APP_DATA_DIR" else "media")


def _resolver(
    settings: Settings, name: str, fields: dict[str, dict[str, Any]]
) -> Callable[[str], str | None]:
    def resolve(variable: str) -> str | None:
        if variable == "APP_PORT":
            return ref(HTTP_PORT) if HTTP_PORT in settings else None
        if variable in ("APP_DOMAIN", "APP_HOST", "LOCAL_DOMAIN"):
            return settings.public_domain()
        if variable == "APP_ID":
            return name
        if variable == "TZ":
            return settings.timezone()
        if variable == "APP_PROTOCOL":
            choices = ["http", "https"]
            return ref(
                settings.add(
                    "APP_PROTOCOL", "choice", choices=choices, default="http", help="How it is reached"
                )
            )
        if variable in fields:
            return ref(_field(settings, variable, fields[variable]))
        return None

    return resolve


def _field(settings: Settings, variable: str, field: dict[str, Any]) -> str:
    """The setting of one of config.json's form fields."""
    key = key_for(variable)
    kind = _TYPES.get(str(field.get("type")), "string")
    options = [str(o.get("value")) for o in field.get("options") or [] if isinstance(o, dict)]
    if options:
        kind = "choice"
    default = field.get("default")
    help = text(field.get("label")) or variable
    if text(field.get("hint")):
        help = f"{help}: {text(field.get('hint'))}"
    if kind == "password" or (secret_key(key) and kind == "string"):
        if default is not None and weak(default):
            settings.fixed_password(key, default)
            default = None
        characters = _number(field.get("min")) if field.get("type") == "random" else 0
        if field.get("type") == "random" and field.get("encoding") == "hex":
            settings.note(f"{key}: the store generated a hex value; AppOS generates URL-safe text.")
        return settings.add(key, "password", default=default, help=f"{help}; generated when empty",
                            length=length_for(characters) if characters else 0)  # fmt: skip
    if kind == "choice" and default is None:
        default = options[0]
    return settings.add(
        key, kind, default=default, required=bool(field.get("required")) and default is None, help=help,
        choices=options or None,
    )  # fmt: skip


def _number(value: Any) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0


# docker-compose.json (Runtipi's "dynamic compose"): its service keys → compose's.
_RENAMED = {
    "image": "image", "command": "command", "entrypoint": "entrypoint", "user": "user",
    "privileged": "privileged", "capAdd": "cap_add", "capDrop": "cap_drop", "devices": "devices",
    "hostname": "hostname", "networkMode": "network_mode", "extraHosts": "extra_hosts", "ulimits": "ulimits",
    "sysctls": "sysctls", "deploy": "deploy", "pid": "pid", "tty": "tty", "stdinOpen": "stdin_open",
    "shmSize": "shm_size", "workingDir": "working_dir", "readOnly": "read_only",
    "securityOpt": "security_opt",
    "stopSignal": "stop_signal", "stopGracePeriod": "stop_grace_period", "logging": "logging", "dns": "dns",
    "dependsOn": "depends_on",
}  # fmt: skip
_IGNORED = frozenset({"name", "isMain", "internalPort", "addToMainNetwork", "extraLabels"})


def from_dynamic(document: dict[str, Any]) -> dict[str, Any]:
    """A docker-compose.json as a compose file; the main service publishes its internalPort on
    ${APP_PORT}, as Runtipi does."""
    services: dict[str, Any] = {}
    for index, raw in enumerate(document.get("services") or []):
        item = mapping(raw, f"docker-compose.json service {index + 1}")
        name = str(item.get("name") or "")
        if not name:
            raise EntryError(f"docker-compose.json: service {index + 1} has no name")
        unknown = sorted(
            set(item) - set(_RENAMED) - _IGNORED - {"environment", "volumes", "addPorts", "healthCheck"}
        )
        if unknown:
            raise EntryError(
                f"docker-compose.json: service {name} uses {', '.join(unknown)}, unknown to AppOS"
            )
        service: dict[str, Any] = {_RENAMED[k]: v for k, v in item.items() if k in _RENAMED}
        service["restart"] = "unless-stopped"
        environment = item.get("environment")
        if isinstance(environment, list):  # older files: [{key, value}]
            environment = {str(e.get("key")): e.get("value") for e in environment if isinstance(e, dict)}
        if environment:
            service["environment"] = {str(k): str(v) for k, v in mapping(environment, "environment").items()}
        volumes = [
            f"{v['hostPath']}:{v['containerPath']}" + (":ro" if v.get("readOnly") else "")
            for v in item.get("volumes") or []
            if isinstance(v, dict) and v.get("hostPath") and v.get("containerPath")
        ]
        if volumes:
            service["volumes"] = volumes
        ports = (
            [f"${{APP_PORT}}:{item['internalPort']}"]
            if item.get("isMain") and item.get("internalPort")
            else []
        )
        for extra in item.get("addPorts") or []:
            protocols = [p for p in ("tcp", "udp") if extra.get(p)] or ["tcp"]
            ports += [f"{extra.get('hostPort')}:{extra.get('containerPort')}/{p}" for p in protocols]
        if ports:
            service["ports"] = ports
        check = mapping(item.get("healthCheck"), "healthCheck")
        if check:
            names = {"test": "test", "interval": "interval", "timeout": "timeout", "retries": "retries",
                     "startPeriod": "start_period"}  # fmt: skip
            service["healthcheck"] = {names[k]: v for k, v in check.items() if k in names}
        services[name] = service
    return {"services": services}  # `overrides` (per-architecture images): the defaults are kept
