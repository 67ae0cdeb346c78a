"""Registry logins an admin stores for the update check: one per registry, kept in state's settings
(`updates.registry.<registry>` → `{"username", "password", "updated_at"}`, written with
`PutSettings`, which appends a `settings_changed` event naming the key only). The password stays
inside state and this process: replies carry `password_set`, and nothing here logs it.

The registry is named as image references name it (`docker.io`, `ghcr.io`, `127.0.0.1:5000`): the
host[:port] rule of `refs.py`, lowercase, without IPv6 brackets; Docker Hub's other names
(`index.docker.io`, `registry-1.docker.io`) are stored as `docker.io`, the key the check looks up.
`docker_config` writes logins where `docker compose pull` reads them (an update's pull step).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from google.protobuf.timestamp_pb2 import Timestamp

from appos.v1 import updates_pb2
from services.common.errors import InvalidArgument, NotFound
from services.deployer.updates.refs import _DOMAIN, _HUB_ALIASES, DOCKER_HUB

if TYPE_CHECKING:  # the client imports httpx, which only a check needs
    from services.deployer.updates.registry import Credentials, CredentialsLookup

PREFIX = "updates.registry."
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"  # the key the Docker CLI uses for Docker Hub
MAX_REGISTRY = 128 - len(PREFIX)
MAX_USERNAME = 256
MAX_PASSWORD = 4096


class SettingsStore(Protocol):
    """What logins need from state (`backups.internal.Internal` is one)."""

    def settings(self, prefix: str) -> dict[str, Any]: ...
    def put_settings(self, values: dict[str, Any], actor: str) -> None: ...


def validate_registry(text: str) -> str:
    """The registry as the check looks it up, or InvalidArgument in words."""
    if not text or len(text) > MAX_REGISTRY or not _DOMAIN.fullmatch(text) or text.startswith("["):
        raise InvalidArgument(
            f"registry {text[:MAX_REGISTRY]!r}: give a host or host:port as image references name it "
            "(docker.io, ghcr.io, 127.0.0.1:5000)"
        )
    if text != text.lower():
        raise InvalidArgument(f"registry {text!r}: write it in lowercase")
    return DOCKER_HUB if text in _HUB_ALIASES else text


def _validate_secret(field: str, value: str, limit: int) -> str:
    if not value:
        raise InvalidArgument(f"{field} is empty: give the registry login's {field}")
    if len(value) > limit:
        raise InvalidArgument(f"{field} is longer than {limit} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidArgument(f"{field} has control characters (a stray newline?)")
    return value


def _to_pb(registry: str, value: dict[str, Any]) -> updates_pb2.RegistryLogin:
    updated = Timestamp()
    updated.FromDatetime(datetime.fromisoformat(str(value.get("updated_at", "1970-01-01T00:00:00+00:00"))))
    return updates_pb2.RegistryLogin(
        registry=registry, username=str(value.get("username", "")), password_set=True, updated_at=updated
    )


class RegistryLogins:
    def __init__(self, store: SettingsStore) -> None:
        self._store = store

    def put(self, *, registry: str, username: str, password: str, actor: str) -> updates_pb2.RegistryLogin:
        registry = validate_registry(registry)
        value = {
            "username": _validate_secret("username", username, MAX_USERNAME),
            "password": _validate_secret("password", password, MAX_PASSWORD),
            "updated_at": datetime.now(UTC).isoformat(),
        }
        self._store.put_settings({PREFIX + registry: value}, actor)
        return _to_pb(registry, value)

    def list(self) -> updates_pb2.ListRegistryLoginsReply:
        stored = self._store.settings(PREFIX)
        return updates_pb2.ListRegistryLoginsReply(
            registries=[_to_pb(key.removeprefix(PREFIX), stored[key]) for key in sorted(stored)]
        )

    def delete(self, *, registry: str, actor: str) -> None:
        registry = validate_registry(registry)
        if PREFIX + registry not in self._store.settings(PREFIX + registry):
            raise NotFound(f"no login is stored for {registry}")
        self._store.put_settings({PREFIX + registry: None}, actor)

    def lookup(self) -> CredentialsLookup:
        """The stored logins, read once (one read per check run), as the check's lookup."""
        return stored_logins(self._store.settings(PREFIX)).get


def stored_logins(stored: Mapping[str, Any]) -> dict[str, Credentials]:
    """Registry → login, from the settings under PREFIX (key → decoded JSON value)."""
    from services.deployer.updates.registry import Credentials

    return {
        key.removeprefix(PREFIX): Credentials(str(v["username"]), str(v["password"]))
        for key, v in stored.items()
        if key.startswith(PREFIX) and isinstance(v, dict) and v.get("username") and v.get("password")
    }


@contextmanager
def docker_config(logins: Mapping[str, Credentials]) -> Iterator[str]:
    """A private folder for `DOCKER_CONFIG` whose `config.json` has an `auths` entry per login (what
    `docker login` writes), so `docker compose pull` sends them to the engine; removed after."""
    folder = tempfile.mkdtemp(prefix="appos-pull-")  # mode 0700
    try:
        auths = {
            (DOCKER_HUB_AUTH_KEY if registry == DOCKER_HUB else registry): {
                "auth": base64.b64encode(f"{login.username}:{login.password}".encode()).decode()
            }
            for registry, login in logins.items()
        }
        fd = os.open(os.path.join(folder, "config.json"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"auths": auths}, out)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
