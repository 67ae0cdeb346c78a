"""The signing key on a real file: generated once, rotated atomically (or not at all), followed when
another process replaces it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from services.gateway.signing_key import SigningKey


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_key_is_generated_once_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "jwt.key"
    first = SigningKey(path).current()
    assert len(first) >= 64 and _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert SigningKey(path).current() == first, "a restart reads the same key"


def test_a_rotation_replaces_the_key_atomically_and_privately(tmp_path: Path) -> None:
    path = tmp_path / "jwt.key"
    key = SigningKey(path)
    old, inode = key.current(), path.stat().st_ino
    with key.rotation():
        assert key.current() == old and path.read_text() == old, "nothing changes before the block ends"
        assert len(list(tmp_path.iterdir())) == 2, "the new key waits on disk beside the old one"
    new = key.current()
    assert new != old and path.read_text() == new and path.stat().st_ino != inode
    assert _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["jwt.key"]
    assert SigningKey(path).current() == new, "a restart reads the new key"


def test_a_rotation_that_fails_to_be_recorded_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "jwt.key"
    key = SigningKey(path)
    old = key.current()
    with pytest.raises(RuntimeError, match="state is down"), key.rotation():
        raise RuntimeError("state is down")
    assert key.current() == old and path.read_text() == old
    assert [p.name for p in tmp_path.iterdir()] == ["jwt.key"], "the staged key is removed"


def test_a_key_replaced_by_another_process_is_followed(tmp_path: Path) -> None:
    path = tmp_path / "jwt.key"
    mine, other = SigningKey(path), SigningKey(path)
    with other.rotation():
        pass
    assert mine.current() == other.current() == path.read_text()
    tmp = tmp_path / "by-hand"
    tmp.write_text("a-key-written-by-hand\n")
    os.replace(tmp, path)
    assert mine.current() == "a-key-written-by-hand"
    path.unlink()  # removed: a new one, as a restart would make
    regenerated = mine.current()
    assert regenerated not in ("", "a-key-written-by-hand") and path.read_text() == regenerated
