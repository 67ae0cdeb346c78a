"""Registry logins (`updates/logins.py`): what a registry name may be, the write-only password, and
the check's lookup, over an in-memory settings store shaped like state's."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from services.common.errors import InvalidArgument, NotFound
from services.deployer.updates.logins import (
    PREFIX,
    RegistryLogins,
    docker_config,
    stored_logins,
    validate_registry,
)
from services.deployer.updates.pull_logins import registries_of
from services.deployer.updates.registry import Credentials


class MemorySettings:
    """PutSettings' rule: a None value deletes the key."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.reads = 0
        self.actors: list[str] = []

    def settings(self, prefix: str) -> dict[str, Any]:
        self.reads += 1
        return {k: v for k, v in self.values.items() if k.startswith(prefix)}

    def put_settings(self, values: dict[str, Any], actor: str) -> None:
        self.actors.append(actor)
        for key, value in values.items():
            if value is None:
                self.values.pop(key, None)
            else:
                self.values[key] = value


@pytest.mark.parametrize(
    ("text", "registry"),
    [
        ("docker.io", "docker.io"),
        ("index.docker.io", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("ghcr.io", "ghcr.io"),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("localhost:5000", "localhost:5000"),
        ("registry.example.com", "registry.example.com"),
    ],
)
def test_a_registry_is_a_host_and_port_as_references_name_it(text: str, registry: str) -> None:
    assert validate_registry(text) == registry


@pytest.mark.parametrize(
    "text",
    ["", "ghcr.io/owner", "https://ghcr.io", "host name", "-bad.io", "a..b", "x:port", "[::1]:5000",
     "GHCR.io", "a" * 200, "ghcr.io\n"],
)  # fmt: skip
def test_anything_else_is_refused_in_words(text: str) -> None:
    with pytest.raises(InvalidArgument, match="registry"):
        validate_registry(text)


def test_a_stored_login_is_listed_without_its_password() -> None:
    store = MemorySettings()
    logins = RegistryLogins(store)
    reply = logins.put(registry="index.docker.io", username="me", password="s3cret-token", actor="admin")
    assert (reply.registry, reply.username, reply.password_set) == ("docker.io", "me", True)
    assert reply.updated_at.seconds > 0
    assert "s3cret" not in str(reply) and "password:" not in str(reply)
    assert store.values[PREFIX + "docker.io"]["password"] == "s3cret-token"
    assert store.actors == ["admin"]

    listed = logins.list()
    assert [(r.registry, r.username, r.password_set) for r in listed.registries] == [
        ("docker.io", "me", True)
    ]
    assert "s3cret" not in str(listed)


@pytest.mark.parametrize(
    ("username", "password", "words"),
    [
        ("", "pw-secret", "username is empty"),
        ("u", "", "password is empty"),
        ("u", "pw-secret" * 500, "password is longer than 4096"),
        ("u" * 300, "pw-secret", "username is longer than 256"),
        ("u", "pw-secret\n", "control characters"),
    ],
)
def test_a_bad_login_is_refused_and_nothing_is_stored(username: str, password: str, words: str) -> None:
    store = MemorySettings()
    with pytest.raises(InvalidArgument, match=words) as refused:
        RegistryLogins(store).put(registry="ghcr.io", username=username, password=password, actor="admin")
    assert store.values == {}
    assert "pw-secret" not in str(refused.value)


def test_delete_forgets_a_login_and_refuses_a_missing_one() -> None:
    store = MemorySettings()
    logins = RegistryLogins(store)
    logins.put(registry="ghcr.io", username="u", password="p", actor="admin")
    logins.put(registry="ghcr.io:5000", username="v", password="q", actor="admin")
    logins.delete(registry="ghcr.io", actor="admin")
    assert list(store.values) == [PREFIX + "ghcr.io:5000"]
    with pytest.raises(NotFound, match="ghcr.io"):
        logins.delete(registry="ghcr.io", actor="admin")


def test_the_lookup_reads_state_once_and_answers_by_registry_as_written() -> None:
    store = MemorySettings()
    logins = RegistryLogins(store)
    logins.put(registry="docker.io", username="hub", password="hub-pw", actor="admin")
    logins.put(registry="127.0.0.1:5000", username="ops", password="ops-pw", actor="admin")
    store.reads = 0

    lookup = logins.lookup()
    assert lookup("127.0.0.1:5000") == Credentials("ops", "ops-pw")
    assert lookup("docker.io") == Credentials("hub", "hub-pw")
    assert lookup("ghcr.io") is None
    assert lookup("127.0.0.1:5001") is None
    assert store.reads == 1
    assert "ops-pw" not in repr(lookup("127.0.0.1:5000"))  # Credentials hides the password


def test_a_pull_gets_a_private_docker_config_with_only_the_images_registries() -> None:
    config = {
        "services": {
            "web": {"image": "127.0.0.1:5000/team/web:1.1.0"},
            "db": {"image": "postgres:16"},
            "built": {"build": "."},
        }
    }
    assert registries_of(config=config, services=["web", "db", "built"]) == {"127.0.0.1:5000", "docker.io"}
    assert registries_of(config=config, services=["web"]) == {"127.0.0.1:5000"}

    logins = {"127.0.0.1:5000": Credentials("ops", "ops-pw"), "docker.io": Credentials("hub", "hub-pw")}
    with docker_config(logins) as folder:
        path = Path(folder) / "config.json"
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        auths = json.loads(path.read_text())["auths"]
        decoded = {key: base64.b64decode(value["auth"]).decode() for key, value in auths.items()}
    assert decoded == {"127.0.0.1:5000": "ops:ops-pw", "https://index.docker.io/v1/": "hub:hub-pw"}
    assert not Path(folder).exists()


def test_stored_logins_skip_other_settings_and_incomplete_values() -> None:
    stored = {
        PREFIX + "ghcr.io": {"username": "u", "password": "p"},
        PREFIX + "quay.io": {"username": "u"},
        "backup.retention": {"username": "u", "password": "p"},
    }
    assert stored_logins(stored) == {"ghcr.io": Credentials("u", "p")}
