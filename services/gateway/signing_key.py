"""The key the gateway signs access tokens with (HS256): `APPOS_DATA/secrets/jwt.key`, mode 0600.

Generated on first start. A rotation (`System.RotateSigningKey`) writes a new random key beside the
old one, lets the caller record it, then renames it into place: from then on every access token
signed with the old key fails verification, while API tokens (looked up by their hash, never signed)
keep working. The key never reaches a log line or a reply.

The file is the truth. Each use compares the file's identity (inode, size, modification time: one
`stat`, no read) with the one loaded and reads the file again when it changed, so a gateway follows
a rotation made by another process on the same APPOS_DATA at its next request, and a restarted
gateway starts with the newest key.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.common.secretfiles import StagedSecret, load_secret

KEY_BYTES = 48


def _identity(stat: os.stat_result) -> tuple[int, int, int, int]:
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


class SigningKey:
    def __init__(self, path: Path, *, nbytes: int = KEY_BYTES) -> None:
        self.path = path
        self._nbytes = nbytes
        self._value, stat = load_secret(path, nbytes=nbytes)
        self._identity = _identity(stat)

    def current(self) -> str:
        try:
            changed = _identity(os.stat(self.path)) != self._identity
        except FileNotFoundError:
            changed = True  # removed by hand: a new key, as a restart would make
        if changed:
            self._value, stat = load_secret(self.path, nbytes=self._nbytes)
            self._identity = _identity(stat)
        return self._value

    @contextmanager
    def rotation(self) -> Iterator[None]:
        """A new key, written to disk first; it replaces the old one when the block ends without
        an error (the block records the rotation), else it is thrown away and nothing changed."""
        staged = StagedSecret(self.path, secrets.token_urlsafe(self._nbytes))
        try:
            yield
        except BaseException:
            staged.discard()
            raise
        staged.commit()
        self._value, self._identity = staged.value, _identity(staged.stat)
