"""Where a store's files come from, and getting them:

    git      any git URL (`https://…`, `git://…`, `file:///…` of a repository): a shallow clone,
             refreshed by a shallow fetch
    archive  an `http(s)://` URL whose path ends in `.zip`, `.tar.gz` or `.tgz`: downloaded (at most
             APPOS_STORE_MAX_ARCHIVE_BYTES) and unpacked without links or paths that climb out
    folder   an absolute path on this server (or `file:///…` of a folder that is no repository):
             read in place

Git runs with an argument list, no prompt, no `ext::` transport, and symlinks checked out as plain
files, so nothing a store contains points outside its folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit, urlunsplit

from services.common.errors import InvalidArgument

GIT, ARCHIVE, FOLDER = "git", "archive", "folder"
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz")
MAX_URL = 2048
_CHUNK = 1 << 16
_GIT_CONFIG = (
    "-c", "protocol.ext.allow=never", "-c", "core.symlinks=false", "-c", "core.hooksPath=/dev/null",
    "-c", "submodule.recurse=false", "-c", "advice.detachedHead=false",
)  # fmt: skip


def shown(url: str) -> str:
    """The URL as replies and logs show it: without a password or token in it."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def classify(url: str) -> str:
    """`git`, `archive` or `folder`, or InvalidArgument saying what a store URL may be."""
    if not url or len(url) > MAX_URL or any(c in url for c in "\r\n\t\0 "):
        raise InvalidArgument(f"a store URL is one line of at most {MAX_URL} characters without spaces")
    if url.startswith("/"):
        folder = Path(url)
        if ".." in folder.parts or not folder.is_dir():
            raise InvalidArgument(f"{url} is not a folder on this server")
        return FOLDER
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise InvalidArgument(f"{shown(url)} names no host")
        return ARCHIVE if parts.path.lower().endswith(ARCHIVE_SUFFIXES) else GIT
    if scheme == "git":
        if not parts.hostname:
            raise InvalidArgument(f"{shown(url)} names no host")
        return GIT
    if scheme == "file":
        local = Path(parts.path)
        if not parts.path.startswith("/") or ".." in local.parts or not local.is_dir():
            raise InvalidArgument(f"{url} is not a folder on this server")
        return GIT if _is_repository(local) else FOLDER
    raise InvalidArgument(
        "a store URL is a git repository (https://…, git://…, file:///…), an https:// URL of a "
        ".zip or .tar.gz archive, or the absolute path of a folder on this server"
    )


def folder_of(url: str) -> Path:
    return Path(urlsplit(url).path if url.startswith("file:") else url)


def _is_repository(path: Path) -> bool:
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def _git(args: list[str], *, timeout: float, cwd: Path | None = None) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "GIT_CONFIG_NOSYSTEM": "1",
        "LC_ALL": "C",
    }
    for proxy in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"):
        if proxy in os.environ:
            env[proxy] = os.environ[proxy]
    try:
        result = subprocess.run(
            ["git", *_GIT_CONFIG, *args], cwd=cwd, env=env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise InvalidArgument(f"git did not finish within {int(timeout)} s") from exc
    except FileNotFoundError as exc:
        raise InvalidArgument("git is not installed on this server") from exc
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
        said = (fatal or lines or [f"exit status {result.returncode}"])[0]
        said = said.removeprefix("fatal: ").removeprefix("error: ")
        raise InvalidArgument(f"git could not fetch the store: {said}")


def fetch_git(url: str, dest: Path, *, timeout: float) -> Path:
    """A shallow clone into `dest` (new), or a shallow fetch of the clone already there."""
    if (dest / ".git").is_dir():
        _git(["fetch", "--depth", "1", "--no-tags", "origin", "HEAD"], cwd=dest, timeout=timeout)
        _git(["reset", "--hard", "--quiet", "FETCH_HEAD"], cwd=dest, timeout=timeout)
        _git(["clean", "-ffdxq"], cwd=dest, timeout=timeout)
        return dest
    _git(["clone", "--depth", "1", "--no-tags", "--quiet", "--", url, str(dest)], timeout=timeout)
    return dest


def fetch_archive(url: str, dest: Path, *, timeout: float, max_bytes: int) -> Path:
    """Downloads and unpacks the archive into `dest` (new); its single top folder, if it has one,
    is the store's root."""
    dest.mkdir(parents=True)
    suffix = ".zip" if urlsplit(url).path.lower().endswith(".zip") else ".tar.gz"
    download = dest.parent / f"{dest.name}.download{suffix}"
    try:
        _download(url, download, timeout=timeout, max_bytes=max_bytes)
        if suffix == ".zip":
            _unzip(download, dest, max_bytes=max_bytes)
        else:
            _untar(download, dest, max_bytes=max_bytes)
    finally:
        download.unlink(missing_ok=True)
    entries = list(dest.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest


def _download(url: str, target: Path, *, timeout: float, max_bytes: int) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "AppOS store fetch"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply, target.open("wb") as out:  # noqa: S310 (http/https only: classify)
            size = 0
            while chunk := reply.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise InvalidArgument(f"the archive is larger than {max_bytes // (1024 * 1024)} MiB")
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise InvalidArgument(f"{shown(url)} answered {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InvalidArgument(f"{shown(url)} could not be reached: {reason}") from exc


def _safe_member(name: str) -> PurePosixPath | None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    return path


def _untar(archive: Path, dest: Path, *, max_bytes: int) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = []
            total = 0
            for member in tar.getmembers():
                if not (member.isfile() or member.isdir()) or _safe_member(member.name) is None:
                    continue  # links, devices, absolute or climbing paths: never unpacked
                total += member.size
                if total > max_bytes:
                    raise InvalidArgument(
                        f"the archive unpacks to more than {max_bytes // (1024 * 1024)} MiB"
                    )
                members.append(member)
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidArgument(f"the archive is not a readable tar.gz: {exc}") from exc


def _unzip(archive: Path, dest: Path, *, max_bytes: int) -> None:
    try:
        with zipfile.ZipFile(archive) as zipped:
            total = 0
            for info in zipped.infolist():
                path = _safe_member(info.filename)
                is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
                if path is None or is_link:
                    continue
                total += info.file_size
                if total > max_bytes:
                    raise InvalidArgument(
                        f"the archive unpacks to more than {max_bytes // (1024 * 1024)} MiB"
                    )
                target = dest.joinpath(*path.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(info) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidArgument(f"the archive is not a readable zip: {exc}") from exc
