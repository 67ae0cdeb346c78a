"""Backup archives: what is written reads back, and anything else is refused with a clear reason
before a single file of the install could change."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.common.errors import InvalidArgument
from services.deployer import archive
from services.deployer.backups.schedule import next_run, validate_schedule
from services.deployer.backups.store import new_id, validate_id

DB = b"SQLite format 3\x00 pretend"


def _manifest(files: dict[str, bytes], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product": "appos",
        "format": 1,
        "id": "appos-backup-20261125T120000Z-abcdef",
        "appos_version": "0.1.0",
        "revision": "0005",
        "created_at": "2026-11-25T12:00:00+00:00",
        "apps": [{"name": "blog", "version": 2, "volumes": []}],
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    body.update(extra)
    return body


def _tar(
    tmp_path: Path, members: Sequence[tuple[str, bytes | None, str]], manifest: dict[str, Any] | None
) -> Path:
    """members: (name, data, kind) with kind "file", "dir", "symlink:<target>" or "hardlink:<target>"."""
    path = tmp_path / "in.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind.startswith("symlink:"):
                info.type, info.linkname = tarfile.SYMTYPE, kind.split(":", 1)[1]
                tar.addfile(info)
            elif kind.startswith("hardlink:"):
                info.type, info.linkname = tarfile.LNKTYPE, kind.split(":", 1)[1]
                tar.addfile(info)
            else:
                assert data is not None
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        if manifest is not None:
            data = json.dumps(manifest).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


GOOD = {"db/appos.db": DB, "apps/blog/compose.yaml": b"services: {}\n", "apps/blog/.env": b"A=1\n"}


def _good(tmp_path: Path, **extra: Any) -> Path:
    return _tar(tmp_path, [(n, d, "file") for n, d in GOOD.items()], _manifest(GOOD, **extra))


def test_written_archive_reads_back(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "blog").mkdir(parents=True)
    (source / "blog" / "compose.yaml").write_text("services: {}\n")
    (source / "blog" / "link").symlink_to("/etc/passwd")  # left out
    (source / "appos.db").write_bytes(DB)
    writer = archive.ArchiveWriter(tmp_path / "out.tar.gz")
    writer.add_dir("db")
    writer.add_file(source / "appos.db", archive.DB_MEMBER)
    writer.add_dir("apps")
    assert writer.add_tree(source / "blog", "apps/blog") == 1
    manifest = archive.Manifest.model_validate(_manifest({}))
    writer.finish(manifest)
    got = archive.extract_verified(tmp_path / "out.tar.gz", tmp_path / "staging")
    assert got.files == {
        "db/appos.db": hashlib.sha256(DB).hexdigest(),
        "apps/blog/compose.yaml": hashlib.sha256(b"services: {}\n").hexdigest(),
    }
    assert (tmp_path / "staging" / "apps" / "blog" / "compose.yaml").read_text() == "services: {}\n"
    assert not (tmp_path / "staging" / "apps" / "blog" / "link").exists()
    assert archive.read_manifest(tmp_path / "out.tar.gz").id == manifest.id


def test_a_tree_swapped_for_symlinks_while_it_is_copied_gives_no_host_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container swaps a file and a folder of its bind for symlinks to the host after the walk
    listed them and before they are read: the backup has neither (O_NOFOLLOW, fwalk's dir fds)."""
    app = tmp_path / "app"
    (app / "data" / "sub").mkdir(parents=True)
    (app / "data" / "sub" / "inner.txt").write_text("inner")
    (app / "data" / "note.txt").write_text("note")
    (app / "compose.yaml").write_text("services: {}\n")
    os.mkfifo(app / "data" / "pipe")  # special files are left out, and never block the walk
    real_fwalk = os.fwalk

    def racing_fwalk(*args: Any, **kwargs: Any) -> Any:
        for top, dirs, files, fd in real_fwalk(*args, **kwargs):
            if Path(top) == app / "data":
                os.rename(app / "data" / "note.txt", tmp_path / "moved-note")
                os.symlink("/etc/hostname", app / "data" / "note.txt")
                os.rename(app / "data" / "sub", tmp_path / "moved-sub")
                os.symlink("/etc", app / "data" / "sub")
            yield top, dirs, files, fd

    monkeypatch.setattr(os, "fwalk", racing_fwalk)
    writer = archive.ArchiveWriter(tmp_path / "out.tar.gz")
    assert writer.add_tree(app, "apps/app") == 1
    writer.finish(archive.Manifest.model_validate(_manifest({})))
    with tarfile.open(tmp_path / "out.tar.gz") as tar:
        names = sorted(tar.getnames())
    assert "apps/app/compose.yaml" in names
    assert not [n for n in names if "note" in n or "inner" in n or "hostname" in n or "pipe" in n], names


def test_a_good_archive_passes(tmp_path: Path) -> None:
    manifest = archive.extract_verified(_good(tmp_path), tmp_path / "staging")
    assert [a.name for a in manifest.apps] == ["blog"]
    assert (tmp_path / "staging" / "db" / "appos.db").read_bytes() == DB


@pytest.mark.parametrize(
    ("members", "manifest", "words"),
    [
        ([(n, d, "file") for n, d in GOOD.items()], _manifest(GOOD, product="other"), "not an AppOS backup"),
        ([(n, d, "file") for n, d in GOOD.items()], None, "no manifest.json"),
        ([(n, d, "file") for n, d in GOOD.items()], _manifest(GOOD, format=2), "unsupported backup format"),
        ([(n, d, "file") for n, d in GOOD.items()], _manifest(GOOD, surprise=1), "manifest is invalid"),
        (
            [(n, d, "file") for n, d in GOOD.items()],
            _manifest(GOOD, apps=[{"name": "../x"}]),
            "manifest is invalid",
        ),
        (
            [(n, b"tampered" if n == "apps/blog/.env" else d, "file") for n, d in GOOD.items()],
            _manifest(GOOD),
            "checksum mismatch for apps/blog/.env",
        ),
        (
            [(n, d, "file") for n, d in GOOD.items() if n != "apps/blog/.env"],
            _manifest(GOOD),
            "lacks apps/blog/.env",
        ),
        (
            [*[(n, d, "file") for n, d in GOOD.items()], ("apps/blog/extra", b"x", "file")],
            _manifest(GOOD),
            "does not list",
        ),
        (
            [*[(n, d, "file") for n, d in GOOD.items()], ("../evil", b"x", "file")],
            _manifest(GOOD),
            "unsafe path",
        ),
        (
            [*[(n, d, "file") for n, d in GOOD.items()], ("/etc/passwd", b"x", "file")],
            _manifest(GOOD),
            "unsafe path",
        ),
        (
            [*[(n, d, "file") for n, d in GOOD.items()], ("apps/blog/../../x", b"x", "file")],
            _manifest(GOOD),
            "unsafe path",
        ),
        (
            [*[(n, d, "file") for n, d in GOOD.items()], ("apps/blog/out", None, "symlink:/etc/passwd")],
            _manifest(GOOD),
            "is a link",
        ),
        (
            [*[(n, d, "file") for n, d in GOOD.items()], ("apps/blog/hard", None, "hardlink:/etc/passwd")],
            _manifest(GOOD),
            "is a link",
        ),
        (
            [*[(n, d, "file") for n, d in GOOD.items()], ("etc/x", b"x", "file")],
            _manifest(GOOD),
            "not part of",
        ),
        (
            [*[(n, d, "file") for n, d in GOOD.items()], ("apps/other/x", b"x", "file")],
            _manifest({**GOOD, "apps/other/x": b"x"}),
            "app the manifest does not list",
        ),
        ([(n, d, "file") for n, d in GOOD.items() if n != "db/appos.db"], _manifest({}), "does not list"),
    ],
)
def test_bad_archives_are_refused(
    tmp_path: Path, members: list[tuple[str, bytes | None, str]], manifest: dict[str, Any] | None, words: str
) -> None:
    with pytest.raises(InvalidArgument, match=words.replace(".", r"\.")):
        archive.extract_verified(_tar(tmp_path, members, manifest), tmp_path / "staging")


def test_duplicate_members_are_refused(tmp_path: Path) -> None:
    members = [*[(n, d, "file") for n, d in GOOD.items()], ("apps/blog/.env", b"A=1\n", "file")]
    with pytest.raises(InvalidArgument, match="appears twice"):
        archive.extract_verified(_tar(tmp_path, members, _manifest(GOOD)), tmp_path / "staging")


@pytest.mark.parametrize("cut", [0.2, 0.5, 0.9])
def test_truncated_and_garbage_archives_are_refused(tmp_path: Path, cut: float) -> None:
    data = _good(tmp_path).read_bytes()
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(InvalidArgument, match="damaged or truncated"):
        archive.extract_verified(truncated, tmp_path / "staging")
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not a tarball at all" * 10)
    with pytest.raises(InvalidArgument, match="damaged or truncated"):
        archive.extract_verified(garbage, tmp_path / "staging2")


def test_ids_and_schedules() -> None:
    now = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    assert validate_id(new_id(now)).startswith("appos-backup-20261125T103000Z-")
    for bad in ("../x", "appos-backup-1", "settings", ""):
        with pytest.raises(InvalidArgument):
            validate_id(bad)
    for bad in ("hourly", "daily@24:00", "every:0", "every:169", "daily@3:00"):
        with pytest.raises(InvalidArgument):
            validate_schedule(bad)
    assert next_run("", last=None, now=now) is None
    assert next_run("daily@03:00", last=None, now=now) == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert next_run("daily@12:00", last=None, now=now) == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    last = datetime(2026, 11, 25, 3, 0, 5, tzinfo=UTC)
    assert next_run("daily@03:00", last=last, now=now) == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert next_run("every:6", last=last, now=now) == datetime(2026, 11, 25, 9, 0, 5, tzinfo=UTC)


def test_a_schedule_may_be_a_cron_line() -> None:
    now = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)  # a Wednesday
    assert validate_schedule("0  3 * * 1") == "0 3 * * 1"  # spaces tidied
    assert next_run("0 3 * * 1", last=None, now=now) == datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # Monday
    assert next_run("30 */6 * * *", last=now, now=now) == datetime(2026, 11, 25, 12, 30, tzinfo=UTC)
    for bad in ("61 3 * * *", "0 3 * * * *", "* * * * *", "*/30 3 * * *", "0 3 * foo *"):
        with pytest.raises(InvalidArgument):
            validate_schedule(bad)
    assert next_run("not a valid cron line", last=None, now=now) is None  # stored by mistake: no run


def test_an_app_entry_names_its_server_by_a_valid_name_only() -> None:
    assert archive.AppEntry(name="blog").server == ""  # manifests from before servers: local
    assert archive.AppEntry(name="blog", server="far").server == "far"
    with pytest.raises(ValueError, match="server name"):
        archive.AppEntry(name="blog", server="../../run/x")
