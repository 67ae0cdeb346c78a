"""Where a store's files come from (services/deployer/stores/sources.py): which URLs are what, and
archives unpacked without anything that points or climbs out of the store's folder. Real git, real
tar and zip files; the HTTP server is on loopback."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.deployer.stores import sources
from tests.stores import archive_server, git_repository


def test_urls_are_classified_and_anything_else_refused(tmp_path: Path) -> None:
    repo = git_repository(_store(tmp_path / "src"), tmp_path / "repo")
    assert sources.classify("https://github.com/IceWhaleTech/CasaOS-AppStore.git") == sources.GIT
    assert sources.classify("https://example.org/stores/apps.tar.gz") == sources.ARCHIVE
    assert sources.classify("http://example.org/apps.ZIP") == sources.ARCHIVE
    assert sources.classify("git://127.0.0.1:9418/store") == sources.GIT
    assert sources.classify(f"file://{repo}") == sources.GIT
    assert sources.classify(f"file://{tmp_path / 'src'}") == sources.FOLDER
    assert sources.classify(str(tmp_path / "src")) == sources.FOLDER
    for bad, needle in [
        ("", "one line"),
        ("ftp://example.org/x", "a git repository"),
        ("ext::sh -c touch% /tmp/pwned", "one line"),
        ("-uhttps://x", "a git repository"),
        ("relative/folder", "a git repository"),
        ("/no/such/folder", "not a folder"),
        (f"{tmp_path}/../etc", "not a folder"),
        ("https:///path-only", "names no host"),
        ("https://x/" + "a" * 3000, "one line"),
        ("https://x/a b", "one line"),
    ]:
        with pytest.raises(InvalidArgument, match=needle):
            sources.classify(bad)


def test_a_password_in_a_url_is_never_shown() -> None:
    assert (
        sources.shown("https://bob:s3cret@git.example.org:8443/r.git")
        == "https://***@git.example.org:8443/r.git"
    )
    assert sources.shown("https://token@git.example.org/r.git") == "https://***@git.example.org/r.git"
    assert sources.shown("https://git.example.org/r.git") == "https://git.example.org/r.git"


def test_git_clone_then_fetch_follows_the_repository(tmp_path: Path) -> None:
    from tests.stores import commit

    repo = git_repository(_store(tmp_path / "src"), tmp_path / "repo")
    dest = sources.fetch_git(f"file://{repo}", tmp_path / "clone", timeout=60)
    assert (dest / "Apps" / "web" / "docker-compose.yml").read_text() == "v1\n"
    (repo / "Apps" / "web" / "docker-compose.yml").write_text("v2\n")
    (repo / "Apps" / "new.txt").write_text("new\n")
    commit(repo, "v2")
    (dest / "stray").write_text("left by nobody")
    assert sources.fetch_git(f"file://{repo}", dest, timeout=60) == dest
    assert (dest / "Apps" / "web" / "docker-compose.yml").read_text() == "v2\n"
    assert (dest / "Apps" / "new.txt").exists() and not (dest / "stray").exists()


def test_git_errors_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(
        InvalidArgument,
        match="git could not fetch the store: .*(not appear to be a git repository|does not exist)",
    ):
        sources.fetch_git(f"file://{tmp_path}/missing", tmp_path / "clone", timeout=60)
    assert not (tmp_path / "clone").exists()


def test_symlinks_in_a_repository_are_checked_out_as_plain_files(tmp_path: Path) -> None:
    src = _store(tmp_path / "src")
    (src / "Apps" / "web" / "secret").symlink_to("/etc/shadow")
    repo = git_repository(src, tmp_path / "repo")
    dest = sources.fetch_git(f"file://{repo}", tmp_path / "clone", timeout=60)
    link = dest / "Apps" / "web" / "secret"
    assert not link.is_symlink() and link.read_text() == "/etc/shadow"


def test_archives_are_unpacked_without_links_or_climbing_paths(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        _tar_file(tar, "store/Apps/web/docker-compose.yml", b"v1\n")
        _tar_file(tar, "../escape.txt", b"no")
        _tar_file(tar, "/abs.txt", b"no")
        link = tarfile.TarInfo("store/Apps/web/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    (served / "store.tar.gz").write_bytes(buffer.getvalue())
    with zipfile.ZipFile(served / "store.zip", "w") as zipped:
        zipped.writestr("store/Apps/web/docker-compose.yml", "v1\n")
        zipped.writestr("../escape.txt", "no")
        info = zipfile.ZipInfo("store/Apps/web/link")
        info.external_attr = 0o120777 << 16
        zipped.writestr(info, "/etc/passwd")
    (served / "broken.tar.gz").write_bytes(b"not a tar")
    with archive_server(served) as base:
        for name in ("store.tar.gz", "store.zip"):
            dest = tmp_path / f"out-{name}"
            root = sources.fetch_archive(f"{base}/{name}", dest, timeout=30, max_bytes=1 << 20)
            assert root == dest / "store"
            assert (root / "Apps" / "web" / "docker-compose.yml").read_text() == "v1\n"
            assert not (root / "Apps" / "web" / "link").exists()
            assert not (tmp_path / "escape.txt").exists() and not Path("/abs.txt").exists()
        with pytest.raises(InvalidArgument, match="answered 404"):
            sources.fetch_archive(f"{base}/missing.tar.gz", tmp_path / "m", timeout=30, max_bytes=1 << 20)
        with pytest.raises(InvalidArgument, match="not a readable tar.gz"):
            sources.fetch_archive(f"{base}/broken.tar.gz", tmp_path / "b", timeout=30, max_bytes=1 << 20)
        with pytest.raises(InvalidArgument, match="larger than"):
            sources.fetch_archive(f"{base}/store.zip", tmp_path / "big", timeout=30, max_bytes=100)
    with pytest.raises(InvalidArgument, match="could not be reached"):
        sources.fetch_archive(f"{base}/store.zip", tmp_path / "gone", timeout=5, max_bytes=1 << 20)


def _store(folder: Path) -> Path:
    (folder / "Apps" / "web").mkdir(parents=True)
    (folder / "Apps" / "web" / "docker-compose.yml").write_text("v1\n")
    return folder


def _tar_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
