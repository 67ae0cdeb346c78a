"""Umbrel app store (getumbrel/umbrel-apps, and community stores with `umbrel-app-store.yml`):
`<app-id>/umbrel-app.yml` (id, name, tagline, description, category, port, website, icon) and
`<app-id>/docker-compose.yml`, whose `app_proxy` service (no image: Umbrel's own proxy) names the
web UI in its environment: APP_HOST `<app-id>_<service>_1`, APP_PORT the container port.

`app_proxy` is dropped and the service it points at publishes "${HTTP_PORT}:<APP_PORT>". Containers
reach each other as `<app-id>_<service>_1`: those names become the service names. ${APP_DATA_DIR}
and ${UMBREL_ROOT} folders become named volumes; ${APP_PASSWORD} and ${APP_SEED} are generated
passwords; ${APP_DOMAIN}, ${DEVICE_DOMAIN_NAME}, ${DEVICE_HOSTNAME} are PUBLIC_DOMAIN."""

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
from services.deployer.stores.formats.shaping import Draft
from services.deployer.stores.formats.variables import Settings, ref, rewrite

TITLE = "Umbrel"
LAYOUT = "<app-id>/umbrel-app.yml with docker-compose.yml"
_DATA = re.compile(r"^\$\{?(APP_DATA_DIR|UMBREL_ROOT)\}?(?:/(.*))?$")
_DOMAINS = ("APP_DOMAIN", "DEVICE_DOMAIN_NAME", "DEVICE_HOSTNAME", "APP_HIDDEN_SERVICE")


def looks_like(store: Store) -> bool:
    if store.is_file(store.root / "umbrel-app-store.yml"):
        return True
    return any(store.is_file(folder / "umbrel-app.yml") for folder in store.folders(store.root))


def entries(store: Store, **_: Any) -> Iterator[Entry]:
    for folder in store.folders(store.root):
        if (folder / "umbrel-app.yml").exists() or (folder / "docker-compose.yml").exists():
            yield folder.name, _converter(store, folder)


def _converter(store: Store, folder: Path) -> Callable[[], Converted]:
    return lambda: convert_app(store, folder)


def convert_app(store: Store, folder: Path) -> Converted:
    if not (folder / "umbrel-app.yml").exists():
        raise EntryError(f"{folder.name} has no umbrel-app.yml")
    manifest = mapping(store.yaml(folder / "umbrel-app.yml"), "umbrel-app.yml")
    if not (folder / "docker-compose.yml").exists():
        raise EntryError(f"{folder.name} has no docker-compose.yml")
    compose = mapping(store.yaml(folder / "docker-compose.yml"), f"{folder.name}/docker-compose.yml")
    app_id = str(manifest.get("id") or folder.name)
    needs = [str(d) for d in manifest.get("dependencies") or []]
    if needs:
        raise EntryError(f"it needs other Umbrel apps ({', '.join(needs)}), which AppOS cannot provide")
    name = slug(app_id)
    draft = Draft(
        name=name,
        compose=compose,
        title=text(manifest.get("name")) or name,
        description=summary(manifest.get("tagline"), manifest.get("description")),
        category=category(manifest.get("category")),
        logo=url(manifest.get("icon")),
        website=url(manifest.get("website")),
        data_path=_data_path,
        data_where="${APP_DATA_DIR}",
    )
    services = mapping(compose.get("services"), "services")
    proxy = mapping(services.pop("app_proxy", None), "app_proxy")
    draft.compose["services"] = rewrite(services, lambda value: _hosts(value, app_id, set(services)))
    environment = _environment(proxy.get("environment"))
    if environment.get("APP_HOST"):
        service = _service(str(environment["APP_HOST"]), app_id, set(services))
        port = port_number(environment.get("APP_PORT"))
        if not port:
            raise EntryError(f"app_proxy's APP_PORT {environment.get('APP_PORT')!r} is not a port")
        draft.web, draft.http_port = (service, port), http_port_default(name, manifest.get("port"))
    _drop_fixed_addresses(draft)
    draft.resolve = _resolver(draft.settings)
    if (folder / "exports.sh").exists():
        draft.note("The store's exports.sh is not run: the variables it sets are settings here.")
    if (folder / "hooks").is_dir():
        draft.note("The store's hook scripts (hooks/) are not run.")
    if manifest.get("defaultUsername") or manifest.get("defaultPassword"):
        user = (
            repr(text(manifest.get("defaultUsername")))
            if manifest.get("defaultUsername")
            else "the default user"
        )
        password = f"the password {text(manifest.get('defaultPassword'))!r}"
        if manifest.get("deterministicPassword"):
            password = "the APP_PASSWORD setting's value"
        draft.note(f"The store says to sign in as {user} with {password}.")
    return draft.finish()


def _environment(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return dict(str(item).partition("=")[::2] for item in value)
    return mapping(value, "app_proxy's environment")


def _service(host: str, app_id: str, services: set[str]) -> str:
    """The service of a container name `<app-id>_<service>_1` (or `-` separated)."""
    for separator in ("_", "-"):
        prefix, suffix = f"{app_id}{separator}", f"{separator}1"
        if host.startswith(prefix) and host.endswith(suffix) and host[len(prefix) : -len(suffix)] in services:
            return host[len(prefix) : -len(suffix)]
    if host in services:
        return host
    raise EntryError(f"app_proxy points at {host}, which is no service of the app")


def _hosts(value: str, app_id: str, services: set[str]) -> str:
    for service in services:
        for separator in ("_", "-"):
            value = value.replace(f"{app_id}{separator}{service}{separator}1", service)
    return value


def _drop_fixed_addresses(draft: Draft) -> None:
    """Umbrel gives some containers fixed addresses from exports.sh (`ipv4_address: $APP_X_IP`) on
    its own network: AppOS's networks have none."""
    for service in draft.compose["services"].values():
        networks = service.get("networks") if isinstance(service, dict) else None
        if not isinstance(networks, dict):
            continue
        for options in networks.values():
            if isinstance(options, dict) and "$" in str(options.get("ipv4_address", "")):
                del options["ipv4_address"]
                draft.note("Fixed container addresses from the store (ipv4_address) were dropped.")


def _data_path(source: str) -> str | None:
    match = _DATA.match(source)
    if match is None:
        return None
    return match.group(2) or ("data" if match.group(1) == "APP_DATA_DIR" else "umbrel")


def _resolver(settings: Settings) -> Callable[[str], str | None]:
    def resolve(variable: str) -> str | None:
        if variable in ("APP_PASSWORD", "APP_SEED"):
            help = "The app's password" if variable == "APP_PASSWORD" else "A secret seed for the app"
            length = 18 if variable == "APP_PASSWORD" else 32
            return ref(
                settings.add(variable, "password", help=f"{help}; generated when empty", length=length)
            )
        if variable in _DOMAINS:
            return settings.public_domain()
        if variable == "TZ":
            return settings.timezone()
        return None

    return resolve
