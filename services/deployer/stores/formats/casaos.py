"""CasaOS AppStore (IceWhaleTech/CasaOS-AppStore): `Apps/<App>/docker-compose.yml`, its metadata
in the top-level `x-casaos` (title, tagline, description as `{en_us: …}`, icon, category, `main`
service, `port_map` = the web UI's host port); older files keep it on the main service.

CasaOS's variables: $PUID/$PGID (1000), $TZ (UTC), $AppID (the app's name). Its data lives in host
folders under /DATA (`/DATA/AppData/$AppID/config`): those become named volumes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from services.deployer.stores.formats.common import (
    Converted,
    Entry,
    EntryError,
    Store,
    category,
    http_port_default,
    mapping,
    plain,
    port_number,
    slug,
    summary,
    text,
    url,
)
from services.deployer.stores.formats.shaping import Draft, port_target
from services.deployer.stores.formats.variables import ref

TITLE = "CasaOS"
LAYOUT = "Apps/<app>/docker-compose.yml"
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml")
_APP_DATA = re.compile(r"^/DATA/AppData/(?:\$\{?AppID\}?|[^/]+)(?:/(.*))?$")


def looks_like(store: Store) -> bool:
    return any(store.first(folder, COMPOSE_FILES) for folder in store.folders(store.root / "Apps"))


def entries(store: Store, **_: Any) -> Iterator[Entry]:
    for folder in store.folders(store.root / "Apps"):
        yield f"Apps/{folder.name}", _converter(store, folder)


def _converter(store: Store, folder: Path) -> Callable[[], Converted]:
    return lambda: convert_app(store, folder)


def convert_app(store: Store, folder: Path) -> Converted:
    path = store.first(folder, COMPOSE_FILES)
    if path is None:
        raise EntryError(f"Apps/{folder.name} has no docker-compose.yml")
    compose = mapping(store.yaml(path), store.shown(path))
    services = mapping(compose.get("services"), "services")
    meta = mapping(compose.get("x-casaos"), "x-casaos")
    main = str(meta.get("main") or meta.get("main_app") or next(iter(services), ""))
    service_meta = mapping((services.get(main) or {}).get("x-casaos"), f"{main}'s x-casaos")
    meta = {**service_meta, **mapping(service_meta.get("container"), "x-casaos container"), **meta}
    name = slug(str(compose.get("name") or meta.get("store_app_id") or folder.name))
    draft = Draft(
        name=name,
        compose=compose,
        title=text(meta.get("title")) or folder.name,
        description=summary(meta.get("tagline"), meta.get("description")),
        category=category(meta.get("category")),
        logo=url(meta.get("icon")),
        website=url(meta.get("project_url") or meta.get("website")),
        data_path=_data_path,
        data_where="/DATA",
    )
    draft.resolve = _resolver(draft, name)
    web = _web(services, main, meta.get("port_map"))
    if web is not None:
        draft.web, draft.http_port = web, http_port_default(name, meta.get("port_map"))
    tips = mapping(meta.get("tips"), "x-casaos tips")
    if text(tips.get("before_install")):
        draft.note(plain(tips.get("before_install")))
    return draft.finish()


def _web(services: dict[str, Any], main: str, port_map: Any) -> tuple[str, int] | None:
    """The main service and the container port that CasaOS publishes on `port_map`."""
    service = services.get(main)
    if not isinstance(service, dict):
        return None
    wanted = str(port_map or "").strip()
    ports = service.get("ports")
    for entry in ports if isinstance(ports, list) else []:
        target, protocol = port_target(entry)
        if isinstance(entry, dict):
            published = str(entry.get("published") or "")
        else:
            parts = str(entry).partition("/")[0].split(":")
            published = parts[-2] if len(parts) > 1 else ""
        if target and protocol == "tcp" and (published == wanted or not wanted):
            return main, target
    if port_number(wanted):  # `port_map` names the container port when nothing publishes it
        return main, port_number(wanted)
    return None


def _data_path(source: str) -> str | None:
    match = _APP_DATA.match(source)
    if match:
        return match.group(1) or "data"
    if source.startswith("/DATA/"):
        return source.removeprefix("/DATA/")
    return None


def _resolver(draft: Draft, name: str) -> Callable[[str], str | None]:
    settings = draft.settings

    def resolve(variable: str) -> str | None:
        if variable == "AppID":
            return name
        if variable in ("PUID", "PGID"):
            kind = "user" if variable == "PUID" else "group"
            return ref(settings.add(variable, "int", default=1000, help=f"Numeric {kind} id the app runs as"))
        if variable == "TZ":
            return settings.timezone()
        return None

    return resolve
