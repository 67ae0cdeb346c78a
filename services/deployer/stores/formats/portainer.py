"""Portainer app templates v2 and v3 (portainer/templates): one `templates.json`,
`{"version": "2"|"3", "templates": [...]}`.

    type 1   a container: image, ports ["80/tcp"], volumes [{container, bind?, readonly?}],
             env [{name, label, default, preset, select}], command, privileged, … → one service
    type 2   a Swarm stack, type 3 a Compose stack: `repository: {url, stackfile}`; the compose
             file is read from the store's own folder (a relative or file:// url inside it) or
             from the folder `fetch_repository(url)` gives; `env` entries are its settings
    type 4   an Edge stack: skipped

v3 adds a numeric `id` to each template; the fields are the same."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

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
from services.deployer.stores.formats.shaping import NOT_WEB_PORTS, Draft, guess_web
from services.deployer.stores.formats.variables import Settings, key_for, ref, secret_key, weak

TITLE = "Portainer"
LAYOUT = "templates.json, app templates version 2 or 3"
FILES = ("templates.json", "templates-2.0.json")
Fetch = Callable[[str], Path]


def looks_like(store: Store) -> bool:
    return store.first(store.root, FILES) is not None


def entries(store: Store, *, fetch_repository: Fetch | None = None, **_: Any) -> Iterator[Entry]:
    path = store.first(store.root, FILES)
    assert path is not None
    try:
        document = store.json(path)
    except EntryError as exc:
        yield path.name, _fail(exc.reason)
        return
    version = str(document.get("version", "")) if isinstance(document, dict) else ""
    if version not in ("2", "3"):
        yield (
            path.name,
            _fail(f"{path.name} is version {version or '1'} of Portainer's templates; AppOS reads 2 and 3"),
        )
        return
    repositories = _Repositories(store, fetch_repository)
    taken: set[str] = set()
    for index, raw in enumerate(document.get("templates") or []):
        item = raw if isinstance(raw, dict) else {}
        entry = f"#{item.get('id', index + 1)} {text(item.get('title'))}".strip()
        name = _unique(str(item.get("name") or item.get("title") or f"template-{index + 1}"), taken)
        yield entry, _converter(store, item, name, repositories)


def _unique(raw: str, taken: set[str]) -> str:
    """Portainer's titles repeat (a Swarm and a Compose "Wordpress"): the second is wordpress-2."""
    try:
        base = slug(raw)
    except EntryError:
        base = "template"
    name, number = base, 2
    while name in taken:
        name, number = f"{base[:60]}-{number}", number + 1
    taken.add(name)
    return name


def _fail(reason: str) -> Callable[[], Converted]:
    def fail() -> Converted:
        raise EntryError(reason)

    return fail


def _converter(
    store: Store, item: dict[str, Any], name: str, repositories: _Repositories
) -> Callable[[], Converted]:
    return lambda: convert_template(store, item, name, repositories)


class _Repositories:
    """Where a stack's repository is: the store's own folder, or what `fetch` gives (once per URL)."""

    def __init__(self, store: Store, fetch: Fetch | None) -> None:
        self.store, self.fetch = store, fetch
        self._fetched: dict[str, Store | str] = {}

    def read(self, url_: str, stackfile: str) -> tuple[Store, Path]:
        parsed = urlparse(url_)
        if not parsed.scheme or parsed.scheme == "file":
            folder = Path(unquote(parsed.path)) if parsed.scheme else self.store.root / url_
            if self.store.inside(folder):
                return self.store, folder / stackfile
        if url_ not in self._fetched:
            if self.fetch is None:
                self._fetched[url_] = "AppOS was given no way to fetch another repository"
            else:
                try:
                    self._fetched[url_] = Store(self.fetch(url_))
                except Exception as exc:  # the fetcher's own error, said in the entry's reason
                    self._fetched[url_] = str(exc) or type(exc).__name__
        found = self._fetched[url_]
        if isinstance(found, str):
            raise EntryError(
                f"the stack's compose file is in another repository ({url_}), "
                f"which could not be read: {found}"
            )
        return found, found.root / stackfile


def convert_template(store: Store, item: dict[str, Any], name: str, repositories: _Repositories) -> Converted:
    kind = item.get("type")
    if kind == 4:
        raise EntryError("it is an Edge stack, for Portainer's Edge agents")
    if str(item.get("platform") or "linux").lower() != "linux":
        raise EntryError(f"it is for {item.get('platform')} hosts; AppOS runs Linux containers")
    settings = Settings()
    if kind == 1:
        compose, web = _container(item, name, settings)
    elif kind in (2, 3):
        repository = mapping(item.get("repository"), "repository")
        if not repository.get("url") or not repository.get("stackfile"):
            raise EntryError("its repository names no url and stackfile")
        source, path = repositories.read(str(repository["url"]), str(repository["stackfile"]))
        compose = mapping(source.yaml(path), f"{repository['url']} {repository['stackfile']}")
        _stack_settings(item, settings)
        web = guess_web(compose)
        if kind == 2:
            settings.note("The stack was written for Docker Swarm; AppOS runs it with Compose.")
    else:
        raise EntryError(f"its type {kind!r} is none of Portainer's (1 container, 2 and 3 stacks)")
    draft = Draft(
        name=name,
        compose=compose,
        title=text(item.get("title")) or name,
        description=summary(item.get("description"), None),
        category=category(item.get("categories") or []),
        logo=url(item.get("logo")),
        settings=settings,
        web=web,
        http_port=http_port_default(name) if web else 0,
    )
    if plain(item.get("note")):
        draft.note(plain(item.get("note")))
    return draft.finish()


def _container(
    item: dict[str, Any], name: str, settings: Settings
) -> tuple[dict[str, Any], tuple[str, int] | None]:
    """A type 1 template as a one-service compose file named after the template."""
    if not text(item.get("image")):
        raise EntryError("the container template names no image")
    service: dict[str, Any] = {
        "image": text(item["image"]),
        "restart": text(item.get("restart_policy")) or "unless-stopped",
    }
    volumes: dict[str, None] = {}
    mounts = []
    for index, volume in enumerate(item.get("volumes") or []):
        volume = mapping(volume, "volumes entry")
        target = text(volume.get("container"))
        if not target:
            raise EntryError(f"volume {index + 1} names no container path")
        suffix = ":ro" if volume.get("readonly") else ""
        if volume.get("bind"):
            mounts.append(f"{text(volume['bind'])}:{target}{suffix}")
        else:
            source = re.sub(r"[^a-z0-9]+", "-", target.lower()).strip("-") or "data"
            volumes[source] = None
            mounts.append(f"{source}:{target}{suffix}")
    web: tuple[str, int] | None = None
    ports = []
    for entry in item.get("ports") or []:
        mapped, _, protocol = str(entry).partition("/")
        port = port_number(mapped.rsplit(":", 1)[-1])
        if web is None and port and protocol in ("", "tcp") and port not in NOT_WEB_PORTS:
            web = name, port
        ports.append(str(entry))
    environment: dict[str, str] = {}
    for variable in item.get("env") or []:
        variable = mapping(variable, "env entry")
        if variable.get("name"):
            environment[text(variable["name"])] = _env_value(variable, settings)
    optional: dict[str, Any] = {
        "command": text(item.get("command")), "hostname": text(item.get("hostname")),
        "privileged": item.get("privileged") is True, "stdin_open": item.get("interactive") is True,
        "tty": item.get("interactive") is True, "ports": ports, "volumes": mounts, "environment": environment,
        "labels": {text(label.get("name")): text(label.get("value")) for label in item.get("labels") or []
                   if isinstance(label, dict) and label.get("name")},
        "network_mode": "host" if item.get("network") == "host" else "",
    }  # fmt: skip
    service |= {key: value for key, value in optional.items() if value}
    compose: dict[str, Any] = {"services": {name: service}}
    if volumes:
        compose["volumes"] = volumes
    return compose, web


def _env_value(variable: dict[str, Any], settings: Settings) -> str:
    """A container's env entry: a preset is fixed text, anything else a setting."""
    name = text(variable["name"])
    default = variable.get("default")
    if variable.get("preset") and not (secret_key(name) and weak(default)):
        return str(default if default is not None else "").replace("$", "$$")
    return ref(_setting(variable, settings))


def _stack_settings(item: dict[str, Any], settings: Settings) -> None:
    for variable in item.get("env") or []:
        if isinstance(variable, dict) and variable.get("name"):
            _setting(variable, settings)


def _setting(variable: dict[str, Any], settings: Settings) -> str:
    name = text(variable["name"])
    help = ": ".join(t for t in (text(variable.get("label")), text(variable.get("description"))) if t) or name
    choices = [mapping(c, "select entry") for c in variable.get("select") or []]
    if choices:
        values = [text(c.get("value")) for c in choices]
        chosen = next((text(c.get("value")) for c in choices if c.get("default")), values[0])
        return settings.add(key_for(name), "choice", choices=values, default=chosen, help=help)
    default = variable.get("default")
    return settings.variable(
        name, default=None if default is None else str(default), required=False, help=help
    )
