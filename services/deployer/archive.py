"""Backup archives: one tar.gz with a manifest.json (product, format, AppOS version, Alembic
revision, apps, a SHA-256 per file). Writing hashes each file as it goes in; reading checks the
whole archive — member names and types, the manifest, every checksum — while extracting into a
staging folder, so a damaged or foreign archive is refused before anything of the install changes.

Layout: `db/appos.db`, `apps/<app>/…` (compose.yaml, .env, …), `caddy/…` (certificates),
`volumes/<app>/<volume>.tar` (a named volume's content), and `manifest.json` last.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from stat import S_ISREG
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.common.errors import InvalidArgument
from services.common.names import validate_app_name, validate_dns_label

PRODUCT = "appos"
FORMAT = 1
MANIFEST = "manifest.json"
DB_MEMBER = "db/appos.db"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
_CHUNK = 1024 * 1024
_VOLUME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class VolumeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str  # the compose volume name ("data")
    docker_name: str  # the engine's volume name ("appos-blog_data")
    labels: dict[str, str] = {}
    file: str

    @field_validator("name", "docker_name")
    @classmethod
    def _volume_name(cls, value: str) -> str:
        if not _VOLUME.fullmatch(value):
            raise ValueError(f"{value!r} is not a volume name")
        return value


class AppEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: int = 0
    # the server the app ran on, when not this machine (its volumes are restored there)
    server: str = ""
    volumes: list[VolumeEntry] = []

    @field_validator("name")
    @classmethod
    def _app_name(cls, value: str) -> str:
        try:
            return validate_app_name(value)
        except InvalidArgument as exc:
            raise ValueError(exc.message) from exc

    @field_validator("server")
    @classmethod
    def _server_name(cls, value: str) -> str:
        try:
            return validate_dns_label(value, what="server name") if value else value
        except InvalidArgument as exc:
            raise ValueError(exc.message) from exc


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: Literal["appos"]
    format: Literal[1]
    id: str
    appos_version: str
    revision: str
    created_at: str
    message: str = ""
    actor: str = ""
    origin: str = "api"
    include_volumes: bool = False
    apps: list[AppEntry] = []
    files: dict[str, str] = Field(default_factory=dict)

    @field_validator("files")
    @classmethod
    def _checksums(cls, value: dict[str, str]) -> dict[str, str]:
        for name, digest in value.items():
            check_member_name(name)
            if not _SHA256.fullmatch(digest):
                raise ValueError(f"checksum of {name} is not a SHA-256")
        return value


def check_member_name(name: str) -> PurePosixPath:
    """A member path AppOS could have written: relative, no `..`, under a known top folder."""
    path = PurePosixPath(name)
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        raise InvalidArgument(f"archive member {name!r} has an unsafe path")
    if any(part in ("..", ".", "") for part in name.rstrip("/").split("/")):
        raise InvalidArgument(f"archive member {name!r} has an unsafe path")
    top = path.parts[0]
    if (
        name == MANIFEST
        or name == DB_MEMBER
        or (top in ("apps", "caddy", "volumes", "db") and len(path.parts) > 1)
    ):
        return path
    if top in ("apps", "caddy", "volumes", "db") and len(path.parts) == 1:
        return path  # the folder itself
    raise InvalidArgument(f"archive member {name!r} is not part of an AppOS backup")


class _Hashing(io.RawIOBase):
    """A reader that hashes what passes through it (tarfile reads exactly the member's size)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha.update(data)
        return data


class ArchiveWriter:
    """Adds files to a tar.gz, remembering their checksums for the manifest."""

    def __init__(self, path: Path, *, compresslevel: int = 6) -> None:
        self.path = path
        self.files: dict[str, str] = {}
        self._raw = open(path, "xb")  # noqa: SIM115 - closed in finish/abort
        # No file name in the gzip header (tarfile would write the temporary one).
        self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, compresslevel=compresslevel)
        self._tar = tarfile.open(fileobj=self._gzip, mode="w", format=tarfile.PAX_FORMAT)

    def add_dir(self, arcname: str) -> None:
        info = tarfile.TarInfo(arcname)
        info.type, info.mode = tarfile.DIRTYPE, 0o700
        self._tar.addfile(info)

    def add_file(self, source: Path, arcname: str) -> None:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
        self._add_fd(fd, arcname)

    def _add_fd(self, fd: int, arcname: str) -> None:
        check_member_name(arcname)
        with os.fdopen(fd, "rb") as raw:
            stat = os.fstat(raw.fileno())
            info = tarfile.TarInfo(arcname)
            info.size, info.mode, info.mtime = stat.st_size, stat.st_mode & 0o777, int(stat.st_mtime)
            reader = _Hashing(raw)
            self._tar.addfile(info, reader)
        self.files[arcname] = reader.sha.hexdigest()

    def add_tree(self, folder: Path, prefix: str) -> int:
        """Every regular file under `folder`; symlinks and special files are left out. The walk holds
        each folder open and opens names inside it without following links (os.fwalk, O_NOFOLLOW),
        so a container that swaps a folder or file for a symlink meanwhile cannot make the backup
        read a host file."""
        count = 0
        self.add_dir(prefix)
        for top, dirs, files, dir_fd in os.fwalk(folder, follow_symlinks=False):
            dirs.sort()
            base = Path(top).relative_to(folder).as_posix()
            inner = prefix if base == "." else f"{prefix}/{base}"
            if base != ".":
                self.add_dir(inner)
            for name in sorted(files):
                try:
                    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
                except OSError:  # a symlink (ELOOP), or gone meanwhile
                    continue
                if not S_ISREG(os.fstat(fd).st_mode):
                    os.close(fd)
                    continue
                self._add_fd(fd, f"{inner}/{name}")
                count += 1
        return count

    def finish(self, manifest: Manifest) -> None:
        manifest.files = dict(self.files)
        data = json.dumps(manifest.model_dump(), indent=1, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode = len(data), 0o600
        self._tar.addfile(info, io.BytesIO(data))
        self.abort()

    def abort(self) -> None:
        self._tar.close()
        self._gzip.close()
        self._raw.close()


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while True:
        member = tar.next()
        if member is None:
            return
        yield member


def _parse_manifest(data: bytes) -> Manifest:
    try:
        raw: Any = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument("the archive's manifest.json is not JSON") from exc
    if not isinstance(raw, dict) or raw.get("product") != PRODUCT:
        raise InvalidArgument('not an AppOS backup (the manifest does not say product "appos")')
    if raw.get("format") != FORMAT:
        raise InvalidArgument(f"unsupported backup format {raw.get('format')!r} (this AppOS reads {FORMAT})")
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidArgument(f"the archive's manifest is invalid: {where}: {first['msg']}") from exc


def _check_contents(manifest: Manifest, found: dict[str, str]) -> None:
    missing = sorted(set(manifest.files) - set(found))
    if missing:
        raise InvalidArgument(f"the archive lacks {missing[0]}, which its manifest lists")
    extra = sorted(set(found) - set(manifest.files))
    if extra:
        raise InvalidArgument(f"the archive holds {extra[0]}, which its manifest does not list")
    for name, digest in found.items():
        if manifest.files[name] != digest:
            raise InvalidArgument(f"checksum mismatch for {name}: the archive is damaged")
    if DB_MEMBER not in found:
        raise InvalidArgument("the archive has no database (db/appos.db)")
    apps = {app.name for app in manifest.apps}
    for name in found:
        parts = PurePosixPath(name).parts
        if parts[0] in ("apps", "volumes") and parts[1] not in apps:
            raise InvalidArgument(f"{name} belongs to an app the manifest does not list")
    for app in manifest.apps:
        for volume in app.volumes:
            if volume.file != f"volumes/{app.name}/{volume.name}.tar" or volume.file not in found:
                raise InvalidArgument(f"volume {volume.name} of {app.name} is not in the archive")


def extract_verified(archive: Path, staging: Path) -> Manifest:
    """Check the whole archive and extract it into `staging` (which must be empty or absent).
    Raises InvalidArgument naming the first problem; `staging` is then left for the caller to
    remove."""
    staging.mkdir(parents=True, exist_ok=True, mode=0o700)
    found: dict[str, str] = {}
    seen: set[str] = set()
    manifest_data: bytes | None = None
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in _members(tar):
                name = member.name.rstrip("/")
                check_member_name(name)
                if name in seen:
                    raise InvalidArgument(f"archive member {name!r} appears twice")
                seen.add(name)
                if member.isdir():
                    (staging / name).mkdir(parents=True, exist_ok=True, mode=0o700)
                    continue
                if not member.isfile():
                    raise InvalidArgument(
                        f"archive member {name!r} is a link or a special file; AppOS backups hold none"
                    )
                source = tar.extractfile(member)
                assert source is not None
                if name == MANIFEST:
                    if member.size > MAX_MANIFEST_BYTES:
                        raise InvalidArgument("the archive's manifest is too large")
                    manifest_data = source.read()
                    continue
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                sha = hashlib.sha256()
                with open(target, "xb") as out:
                    while chunk := source.read(_CHUNK):
                        sha.update(chunk)
                        out.write(chunk)
                target.chmod(0o600)
                found[name] = sha.hexdigest()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise InvalidArgument(f"the archive is damaged or truncated ({exc})") from exc
    if manifest_data is None:
        raise InvalidArgument("not an AppOS backup (no manifest.json)")
    manifest = _parse_manifest(manifest_data)
    _check_contents(manifest, found)
    return manifest


def read_manifest(archive: Path) -> Manifest:
    """The manifest alone (it is the last member: this reads the archive once, checking nothing else)."""
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in _members(tar):
                if member.name == MANIFEST and member.isfile():
                    source = tar.extractfile(member)
                    assert source is not None
                    return _parse_manifest(source.read(MAX_MANIFEST_BYTES))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise InvalidArgument(f"the archive is damaged or truncated ({exc})") from exc
    raise InvalidArgument("not an AppOS backup (no manifest.json)")
