"""Coolify service templates (coollabsio/coolify `templates/compose/<name>.yaml`): one compose file
each, its metadata in the comment lines on top (`# documentation:`, `# slogan:`, `# category:`,
`# tags:`, `# logo:`, `# port:`, `# ignore:`).

Coolify's magic variables:

    SERVICE_PASSWORD_<X>, SERVICE_PASSWORD_64_<X>, SERVICE_BASE64_<X>, SERVICE_HEX_32_<X>, …
                                        a generated password (the number: its length)
    SERVICE_USER_<X>                    a user name (default: x)
    SERVICE_FQDN_<X>[_<PORT>]           the app's domain (default: localhost)
    SERVICE_URL_<X>[_<PORT>]            the app's URL (default: http://localhost:<HTTP_PORT>)

An environment entry named SERVICE_FQDN_<X>_<PORT> or SERVICE_URL_<X>_<PORT> only declares that
its service's web UI listens on PORT: it is dropped, and that service and port are the web UI."""

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
    parse_yaml,
    port_number,
    slug,
    summary,
    url,
)
from services.deployer.stores.formats.shaping import Draft, port_target
from services.deployer.stores.formats.variables import Settings, length_for, ref

TITLE = "Coolify"
LAYOUT = "templates/compose/<name>.yaml"
_HEADER = re.compile(r"^#\s*([a-z_-]+)\s*:\s*(.*?)\s*$")
_PASSWORD = re.compile(
    r"^SERVICE_(PASSWORD|PASSWORDWITHSYMBOLS|PASSWORDWITHOUTSYMBOLS|BASE64|REALBASE64|HEX)(?:_(\d+))?_([A-Z0-9_]+)$"
)
_USER = re.compile(r"^SERVICE_USER_([A-Z0-9_]+)$")
_ADDRESS = re.compile(r"^SERVICE_(FQDN|URL)_([A-Z0-9_]+?)(?:_(\d+))?$")


def looks_like(store: Store) -> bool:
    return bool(store.files(store.root / "templates" / "compose", (".yaml", ".yml")))


def entries(store: Store, **_: Any) -> Iterator[Entry]:
    for path in store.files(store.root / "templates" / "compose", (".yaml", ".yml")):
        yield f"templates/compose/{path.name}", _converter(store, path)


def _converter(store: Store, path: Path) -> Callable[[], Converted]:
    return lambda: convert_template(store, path)


def header(text: str) -> dict[str, str]:
    """The `# key: value` lines before the compose file's first other line."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _HEADER.match(line.strip())
        if not line.lstrip().startswith("#"):
            break
        if match:
            found.setdefault(match.group(1).lower(), match.group(2))
    return found


def convert_template(store: Store, path: Path) -> Converted:
    source = store.read(path)
    meta = header(source)
    if meta.get("ignore", "").lower() == "true":
        raise EntryError("the store marks it ignored")
    compose = mapping(parse_yaml(source, store.shown(path)), store.shown(path))
    stem = path.name.rsplit(".", 1)[0]
    name = slug(stem)
    draft = Draft(
        name=name,
        compose=compose,
        title=" ".join(word.capitalize() for word in re.split(r"[-_]+", stem)),
        description=summary(meta.get("slogan"), None),
        category=category([meta.get("category", ""), *meta.get("tags", "").split(",")]),
        logo=url(meta.get("logo")),
        website=url(re.sub(r"\?utm_source=coolify\.io$", "", meta.get("documentation", ""))),
    )
    services = mapping(compose.get("services"), "services")
    declared = _declarations(services)
    for service in services.values():
        if isinstance(service, dict):
            service.pop("exclude_from_hc", None)
            _file_contents(service)
    draft.web = declared or _web_from_header(services, port_number(meta.get("port")))
    if draft.web is not None:
        draft.http_port = http_port_default(name)
    draft.resolve = _resolver(draft.settings, draft.http_port)
    return draft.finish()


def _declarations(services: dict[str, Any]) -> tuple[str, int] | None:
    """Drop the SERVICE_FQDN_/SERVICE_URL_ declarations; the first one with a port is the web UI."""
    web: tuple[str, int] | None = None
    for name, service in services.items():
        environment = service.get("environment") if isinstance(service, dict) else None
        if isinstance(environment, dict):
            keys = [str(k) for k in environment]
            service["environment"] = {k: v for k, v in environment.items() if not _ADDRESS.match(str(k))}
        elif isinstance(environment, list):
            keys = [str(e).partition("=")[0] for e in environment]
            service["environment"] = [e for e in environment if not _ADDRESS.match(str(e).partition("=")[0])]
        else:
            continue
        for key in keys:
            match = _ADDRESS.match(key)
            if match and match.group(3) and web is None:
                web = str(name), int(match.group(3))
    return web


def _web_from_header(services: dict[str, Any], port: int) -> tuple[str, int] | None:
    """The header's `# port:`, on the first service that exposes or publishes it (else the first)."""
    if not port:
        return None
    for name, service in services.items():
        listed = (
            [*(service.get("ports") or []), *(service.get("expose") or [])]
            if isinstance(service, dict)
            else []
        )
        if any(port_target(entry)[0] == port for entry in listed):
            return str(name), port
    return str(next(iter(services))), port


def _file_contents(service: dict[str, Any]) -> None:
    for mount in service.get("volumes") or []:
        if isinstance(mount, dict) and "content" in mount:
            raise EntryError(
                f"it writes the file {mount.get('source')} from the template (content:), "
                "which AppOS templates cannot carry"
            )
        if isinstance(mount, dict):
            mount.pop("isDirectory", None)
            mount.pop("is_directory", None)


def _resolver(settings: Settings, http_port: int) -> Callable[[str], str | None]:
    def resolve(variable: str) -> str | None:
        if match := _PASSWORD.match(variable):
            kind, number = match.group(1), match.group(2)
            length = length_for(int(number)) if number else 0
            if kind == "HEX":
                settings.note(f"{variable}: the store generated a hex value; AppOS generates URL-safe text.")
            help = f"{match.group(3).lower()}; generated when empty"
            return ref(settings.add(variable, "password", help=help, length=length))
        if match := _USER.match(variable):
            return ref(settings.add(variable, default=match.group(1).lower(), help="A user name"))
        if match := _ADDRESS.match(variable):
            kind, service = match.group(1), match.group(2)
            key = f"SERVICE_{kind}_{service}"
            if kind == "FQDN":
                return ref(settings.add(key, default="localhost", help="Domain the app is reached at"))
            address = f"http://localhost:{http_port}" if HTTP_PORT in settings else "http://localhost"
            return ref(settings.add(key, default=address, help="Address the app is reached at"))
        return None

    return resolve
