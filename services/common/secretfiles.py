"""Secrets generated on first start into APPOS_DATA: created atomically, mode 0600, never logged."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _write_temp(path: Path, value: str) -> tuple[Path, os.stat_result]:
    """`value` in a new 0600 file beside `path`, flushed to disk: (its path, its stat)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, value.encode())
        os.fsync(fd)
        return tmp, os.fstat(fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def write_secret_file(path: Path, value: str) -> bool:
    """Write `value` to `path` (0600) unless the file exists. True when this call created it.

    The content goes to a temporary file first and is linked into place, so a concurrent reader
    never sees a half-written secret and two processes racing on first start agree on one value.
    """
    tmp, _ = _write_temp(path, value)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink()


class StagedSecret:
    """A new value for the secret at `path`, written beside it (0600, on disk) but not yet in place.

    `commit()` renames it over the old file: a reader sees the old secret or the new one, never a
    mix, and after a crash the file holds one of the two. `discard()` leaves the old one as it was.
    """

    def __init__(self, path: Path, value: str) -> None:
        self.path = path
        self.value = value
        self._tmp, self.stat = _write_temp(path, value)

    def commit(self) -> None:
        try:
            os.replace(self._tmp, self.path)
        except BaseException:
            self.discard()
            raise
        folder = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)  # the rename itself survives a power cut
        finally:
            os.close(folder)

    def discard(self) -> None:
        self._tmp.unlink(missing_ok=True)


def load_secret(path: Path, *, nbytes: int = 32) -> tuple[str, os.stat_result]:
    """The secret stored at `path`, generating a random one on first use, and the stat of the file
    it was read from (to notice when the file is replaced)."""
    if not path.exists():
        write_secret_file(path, secrets.token_urlsafe(nbytes))
    with path.open("rb") as file:
        stat = os.fstat(file.fileno())
        value = file.read().decode().strip()
    if not value:
        raise RuntimeError(f"secret file {path} is empty: remove it to generate a new one")
    return value, stat


def load_or_create_secret(path: Path, *, nbytes: int = 32) -> str:
    """The secret stored at `path`, generating a random one on first use."""
    return load_secret(path, nbytes=nbytes)[0]
