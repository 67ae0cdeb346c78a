"""Copying many apps' volumes at once (fake engine objects; the real engine is in
tests/integration/test_backups.py)."""

from __future__ import annotations

import io
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest
from docker.errors import APIError, ImageNotFound

from services.common.errors import FailedPrecondition, Unavailable
from services.deployer import volumes
from services.deployer.archive import VolumeEntry


class FakeAppContainer:
    def __init__(self, app: str, log: list[str]) -> None:
        self.app, self.log = app, log

    def pause(self) -> None:
        self.log.append(f"pause {self.app}")

    def unpause(self) -> None:
        self.log.append(f"unpause {self.app}")


class FakeClient:
    def __init__(self, log: list[str]) -> None:
        self.containers = self
        self.log = log

    def list(self, *, filters: dict[str, str], ignore_removed: bool = False) -> list[FakeAppContainer]:
        return [
            FakeAppContainer(filters["label"].removeprefix("com.docker.compose.project=appos-"), self.log)
        ]


class FakeHelper:
    """get_archive of ROOT/<volume>; `broken` volumes fail; `gate` holds the first copies back until
    COPY_WORKERS of them run at once (proof that they do)."""

    def __init__(self, log: list[str], broken: frozenset[str] = frozenset(), parallel: bool = False) -> None:
        self.log, self.broken = log, broken
        self.gate = threading.Barrier(volumes.COPY_WORKERS) if parallel else None

    def get_archive(self, path: str) -> tuple[list[bytes], dict[str, Any]]:
        volume = path.removeprefix(f"{volumes.ROOT}/")
        if self.gate is not None and not self.gate.broken:
            self.gate.wait(timeout=10)
        if volume in self.broken:
            raise APIError("no such file", response=None)
        self.log.append(f"copy {volume}")
        return [volume.encode(), b"-tar"], {}


def _found(apps: int) -> dict[str, list[tuple[str, str, dict[str, str]]]]:
    return {
        f"a{i}": [("data", f"appos-a{i}_data", {"com.docker.compose.volume": "data"})] for i in range(apps)
    }


def test_every_app_is_copied_paused_and_yielded_in_order(tmp_path: Path) -> None:
    log: list[str] = []
    found = _found(9)
    found["a4"] = []  # an app without volumes is skipped
    helper = FakeHelper(log, parallel=True)
    out = list(volumes.export_apps(FakeClient(log), helper, found, tmp_path))
    assert [app for app, _ in out] == [f"a{i}" for i in range(9) if i != 4]
    for app, [volume] in out:
        assert (volume.name, volume.docker_name) == ("data", f"appos-{app}_data")
        assert volume.tar.read_bytes() == f"appos-{app}_data-tar".encode()
        # each app's own copy happens while that app is paused
        assert log.index(f"pause {app}") < log.index(f"copy appos-{app}_data") < log.index(f"unpause {app}")
    assert helper.gate is not None and not helper.gate.broken, "COPY_WORKERS copies ran at the same time"


def test_a_failed_copy_is_raised_and_every_paused_app_resumes(tmp_path: Path) -> None:
    log: list[str] = []
    helper = FakeHelper(log, broken=frozenset({"appos-a1_data"}))
    copies = volumes.export_apps(FakeClient(log), helper, _found(6), tmp_path)
    assert next(copies)[0] == "a0"
    with pytest.raises(Unavailable, match="could not copy volume appos-a1_data"):
        next(copies)
    paused = [line.split()[1] for line in log if line.startswith("pause")]
    resumed = [line.split()[1] for line in log if line.startswith("unpause")]
    assert sorted(paused) == sorted(resumed), "no app is left paused"


class FakeImages:
    def __init__(self, present: set[str]) -> None:
        self.present = present
        self.imported: list[tuple[bytes, str, str]] = []

    def get(self, name: str) -> object:
        if name not in self.present:
            raise ImageNotFound(name)
        return object()


class FakeImageClient:
    def __init__(self, present: set[str]) -> None:
        self.images = FakeImages(present)
        self.api = self

    def import_image_from_data(self, data: bytes, *, repository: str, tag: str) -> None:
        self.images.imported.append((data, repository, tag))
        self.images.present.add(f"{repository}:{tag}")


def test_the_default_helper_is_an_empty_image_imported_once() -> None:
    client = FakeImageClient(set())
    assert volumes.helper_image(client, "") == volumes.EMPTY_HELPER
    assert volumes.helper_image(client, "") == volumes.EMPTY_HELPER
    [(data, repository, tag)] = client.images.imported
    assert (repository, tag) == ("appos/backup-helper", "empty")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getmembers() == []  # no files: the container is created, never started


def test_a_configured_helper_must_be_on_the_engine() -> None:
    assert volumes.helper_image(FakeImageClient({"mine:1"}), "mine:1") == "mine:1"
    with pytest.raises(FailedPrecondition, match="'gone:1' is not on this Docker engine"):
        volumes.helper_image(FakeImageClient(set()), "gone:1")


class FakeVolumeUser:
    def __init__(self, name: str, project: str) -> None:
        self.name, self.labels = name, {"com.docker.compose.project": project}


class FakeVolumeClient:
    def __init__(self, users: list[FakeVolumeUser]) -> None:
        self.volumes = self
        self.containers = self
        self.users = users

    def get(self, name: str) -> object:
        return object()  # every volume exists

    def list(
        self, *, all: bool, filters: dict[str, str], ignore_removed: bool = False
    ) -> list[FakeVolumeUser]:
        return self.users


ENTRY = VolumeEntry(name="data", docker_name="appos-a_data", labels={}, file="volumes/a/data.tar")


def test_an_existing_volume_is_replaced_only_with_force() -> None:
    with pytest.raises(FailedPrecondition, match="already exists"):
        volumes.preflight(FakeVolumeClient([]), [ENTRY], force=False, going_down=set())
    volumes.preflight(FakeVolumeClient([]), [ENTRY], force=True, going_down=set())


def test_with_force_the_apps_taken_down_first_may_use_the_volume_but_no_other() -> None:
    own = FakeVolumeUser("appos-a-web-1", "appos-a")
    volumes.preflight(FakeVolumeClient([own]), [ENTRY], force=True, going_down={"a"})
    stranger = FakeVolumeUser("someone-else", "other")
    with pytest.raises(FailedPrecondition, match="used by container someone-else"):
        volumes.preflight(FakeVolumeClient([own, stranger]), [ENTRY], force=True, going_down={"a"})
