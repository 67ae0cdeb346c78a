from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.common.names import validate_dns_label, validate_username
from services.common.passwords import hash_password, verify_password
from services.common.roles import role_allows, validate_role
from services.common.secretfiles import load_or_create_secret, write_secret_file
from services.common.settings import CommonSettings


def test_roles_are_ordered() -> None:
    assert role_allows("admin", "viewer")
    assert role_allows("operator", "operator")
    assert not role_allows("viewer", "operator")
    assert not role_allows("root", "viewer")
    with pytest.raises(InvalidArgument):
        validate_role("superuser")


@pytest.mark.parametrize(
    "name", ["a", "-x", "x-", "UPPER", "a b", "../etc", "x;rm", "$(id)", "é", "a" * 64, "a\x00"]
)
def test_bad_dns_labels(name: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_dns_label(name) if len(name) != 1 or not name.isalnum() else validate_username(name)


def test_good_names() -> None:
    assert validate_dns_label("wordpress-2") == "wordpress-2"
    assert validate_username("ops.team_1") == "ops.team_1"


def test_password_hash_roundtrip() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password(None, "correct horse")
    assert not verify_password("not-a-hash", "x")
    with pytest.raises(InvalidArgument):
        hash_password("short")


def test_secret_file_is_0600_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "key"
    first = load_or_create_secret(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_or_create_secret(path) == first
    assert write_secret_file(path, "other") is False
    assert path.read_text() == first


def test_racing_first_starts_agree_on_one_secret(tmp_path: Path) -> None:
    path = tmp_path / "race"
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(load_or_create_secret(path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1


def test_socket_paths_are_checked(tmp_path: Path) -> None:
    settings = CommonSettings(data=tmp_path, run_dir=tmp_path / ("x" * 120))
    with pytest.raises(ValueError, match="APPOS_RUN_DIR"):
        settings.socket_path("state")
    assert CommonSettings(data=tmp_path).socket_path("state") == tmp_path / "run" / "state.sock"
