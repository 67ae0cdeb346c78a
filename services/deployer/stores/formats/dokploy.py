"""Dokploy templates (Dokploy/templates): `blueprints/<id>/docker-compose.yml` with
`blueprints/<id>/template.toml`, and the metadata (id, name, description, logo, links, tags) in the
root `meta.json` list or in `blueprints/<id>/meta.json`.

template.toml: `[variables]` name → value, where a value is text with `${helper}`s (`password:32`,
`base64:64`, `hash:N`, `uuid`, `jwt` → a generated password; `domain` → PUBLIC_DOMAIN; `username`,
`email`) and `${other_variable}`s; `[config] env` (a table, or a list of `KEY=value`) is the .env
the compose file reads; `[[config.domains]]` names the web UI's serviceName and port; `mounts` are
files Dokploy writes next to the compose file."""

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
    port_number,
    slug,
    summary,
    text,
    url,
)
from services.deployer.stores.formats.shaping import Draft, guess_web
from services.deployer.stores.formats.variables import Settings, key_for, length_for, ref

TITLE = "Dokploy"
LAYOUT = "blueprints/<id>/docker-compose.yml with template.toml"
_STORE_NETWORKS = ("dokploy-network",)
_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_SECRETS = {"password": 32, "base64": 32, "hash": 32, "uuid": 36, "jwt": 64}


def looks_like(store: Store) -> bool:
    return any(
        store.first(f, ("template.toml", "docker-compose.yml"))
        for f in store.folders(store.root / "blueprints")
    )


def entries(store: Store, **_: Any) -> Iterator[Entry]:
    metas: dict[str, dict[str, Any]] = {}
    if (store.root / "meta.json").exists():
        try:
            listed = store.json(store.root / "meta.json")
        except EntryError as exc:
            yield "meta.json", _fail(f"{exc.reason}; the entries that need it keep their folder's name")
            listed = []
        for item in listed if isinstance(listed, list) else []:
            if isinstance(item, dict) and item.get("id"):
                metas[str(item["id"])] = item
    for folder in store.folders(store.root / "blueprints"):
        yield f"blueprints/{folder.name}", _converter(store, folder, metas.get(folder.name, {}))


def _fail(reason: str) -> Callable[[], Converted]:
    def fail() -> Converted:
        raise EntryError(reason)

    return fail


def _converter(store: Store, folder: Path, meta: dict[str, Any]) -> Callable[[], Converted]:
    return lambda: convert_blueprint(store, folder, meta)


def convert_blueprint(store: Store, folder: Path, meta: dict[str, Any]) -> Converted:
    compose_file = store.first(folder, ("docker-compose.yml", "docker-compose.yaml"))
    if compose_file is None:
        raise EntryError(f"blueprints/{folder.name} has no docker-compose.yml")
    if (folder / "meta.json").exists():
        meta = {**meta, **mapping(store.json(folder / "meta.json"), f"blueprints/{folder.name}/meta.json")}
    template = store.toml(folder / "template.toml") if (folder / "template.toml").exists() else {}
    config = mapping(template.get("config"), "template.toml [config]")
    if config.get("mounts"):
        raise EntryError(
            "it needs files Dokploy writes next to the compose file (mounts), "
            "which AppOS templates cannot carry"
        )
    compose = mapping(store.yaml(compose_file), store.shown(compose_file))
    links = mapping(meta.get("links"), "meta.json links")
    name = slug(str(meta.get("id") or folder.name))
    draft = Draft(
        name=name,
        compose=compose,
        title=text(meta.get("name")) or name,
        description=summary(None, meta.get("description")),
        category=category(meta.get("tags") or []),
        logo=url(meta.get("logo")),
        website=url(links.get("website") or links.get("github")),
        networks=_STORE_NETWORKS,
    )
    variables = {str(k): str(v) for k, v in mapping(template.get("variables"), "[variables]").items()}
    environment = _environment(config.get("env"))
    draft.resolve = _resolver(draft.settings, variables, environment)
    domains = [d for d in config.get("domains") or [] if isinstance(d, dict)]
    if domains and domains[0].get("serviceName") and port_number(domains[0].get("port")):
        draft.web = str(domains[0]["serviceName"]), port_number(domains[0]["port"])
    else:
        draft.web = guess_web(compose)
    if draft.web is not None:
        draft.http_port = http_port_default(name)
    return draft.finish()


def _environment(value: Any) -> dict[str, str]:
    if isinstance(value, list):
        return dict(str(item).partition("=")[::2] for item in value)
    return {str(k): str(v) for k, v in mapping(value, "[config] env").items()}


def _resolver(
    settings: Settings, variables: dict[str, str], environment: dict[str, str]
) -> Callable[[str], str | None]:
    """A compose variable is an env entry of template.toml: its value, with each helper and
    variable it holds made a setting (named after the env entry when it is just one of them)."""
    made: dict[str, str] = {}  # a template variable → the `${KEY}` text it became

    def variable(name: str, claim: str, depth: int = 0) -> str:
        if name not in variables:  # a helper: each use is a value of its own
            return helper(name, claim)
        if name not in made:
            if depth > 8:
                raise EntryError(f"template variable {name} refers to itself")
            made[name] = value(variables[name], claim, depth + 1)
        return made[name]

    def value(text_: str, claim: str, depth: int) -> str:
        return _REFERENCE.sub(
            lambda m: variable(m.group(1), claim, depth), text_.replace("$$", "\x00")
        ).replace("\x00", "$$")

    def helper(expression: str, claim: str) -> str:
        kind, _, argument = expression.partition(":")
        if kind == "domain":
            return settings.public_domain()
        if kind in _SECRETS:
            if kind == "jwt" and argument:
                raise EntryError("it signs a token when installed (${jwt:…}), which AppOS settings cannot")
            characters = int(argument) if argument.isdigit() else _SECRETS[kind]
            help = f"{claim}; generated when empty"
            return ref(settings.add(key_for(claim), "password", help=help, length=length_for(characters)))
        if kind == "username":
            return ref(settings.add(key_for(claim), default="admin", help=f"{claim}: a user name"))
        if kind == "email":
            email = "admin@example.com"
            return ref(settings.add(key_for(claim), default=email, help=f"{claim}: an email address"))
        if kind in ("timestamp", "timestampms", "randomPort"):
            raise EntryError(f"its template uses ${{{kind}}}, which AppOS settings cannot express")
        raise EntryError(f"its template uses ${{{expression}}}, a helper AppOS does not know")

    def resolve(name: str) -> str | None:
        if name not in environment:
            return None
        raw = environment[name]
        if "$" not in raw:  # a literal: a setting with that default (a weak secret: generated)
            return ref(settings.variable(name, default=raw, required=False))
        return value(raw, name, 0)

    return resolve
