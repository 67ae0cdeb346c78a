"""Secrets generated on first start into APPOS_DATA: created atomically, mode 0600, never logged."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_secret_file(path: Path, value: str) -> bool:
    """Write `value` to `path` (0600) unless the file exists. True when this call created it.

    The content goes to a temporary file first and is linked into place, so a concurrent reader
    never sees a half-written secret and two processes racing on first start agree on one value.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, value.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink()


def load_or_create_secret(path: Path, *, nbytes: int = 32) -> str:
    """The secret stored at `path`, generating a random one on first use."""
    if not path.exists():
        write_secret_file(path, secrets.token_urlsafe(nbytes))
    value = path.read_text().strip()
    if not value:
        raise RuntimeError(f"secret file {path} is empty: remove it to generate a new one")
    return value
