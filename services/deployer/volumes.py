"""Named volumes in and out of backups, through one short-lived helper container: every volume of
the job is mounted into a created (never started) container of the helper image at
`/appos-volumes/<engine volume name>`, and Docker's archive API copies a folder out (`get_archive`)
or in (`put_archive`). The helper image only has to exist locally: APPOS_BACKUP_HELPER_IMAGE (the
AppOS image itself in production). A volume's tar has one top folder, the engine volume name."""

from __future__ import annotations

import contextlib
import logging
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from docker.errors import DockerException, ImageNotFound, NotFound

from services.common.errors import FailedPrecondition, InvalidArgument, Unavailable
from services.deployer.archive import VolumeEntry
from services.deployer.compose import project_name

logger = logging.getLogger(__name__)

ROOT = "/appos-volumes"
PROJECT_LABEL = "com.docker.compose.project"
VOLUME_LABEL = "com.docker.compose.volume"


def app_volumes(client: Any, app: str) -> list[tuple[str, str, dict[str, str]]]:
    """(compose name, engine name, labels) of the app's named volumes."""
    found = client.volumes.list(filters={"label": f"{PROJECT_LABEL}={project_name(app)}"})
    out = []
    for volume in found:
        labels = dict(volume.attrs.get("Labels") or {})
        out.append((labels.get(VOLUME_LABEL, volume.name), volume.name, labels))
    return sorted(out)


def check_helper(client: Any, image: str) -> None:
    try:
        client.images.get(image)
    except ImageNotFound as exc:
        raise FailedPrecondition(
            f"the backup helper image {image!r} is not on this Docker engine (APPOS_BACKUP_HELPER_IMAGE)"
        ) from exc


@contextlib.contextmanager
def helper(client: Any, image: str, volumes: list[str], *, read_only: bool) -> Iterator[Any]:
    """A created container with each volume at ROOT/<name>; removed on exit."""
    mode = "ro" if read_only else "rw"
    try:
        container = client.containers.create(
            image,
            command=["true"],
            volumes={name: {"bind": f"{ROOT}/{name}", "mode": mode} for name in volumes},
            labels={"appos.backup-helper": "1"},
            network_disabled=True,
        )
    except DockerException as exc:
        raise Unavailable(f"could not create the backup helper container: {exc}") from exc
    try:
        yield container
    finally:
        with contextlib.suppress(DockerException):
            container.remove(force=True)


@contextlib.contextmanager
def paused(client: Any, app: str) -> Iterator[None]:
    """The app's running containers paused while its volumes are copied (a consistent copy)."""
    containers = client.containers.list(filters={"label": f"{PROJECT_LABEL}={project_name(app)}"})
    done = []
    try:
        for container in containers:
            with contextlib.suppress(DockerException):
                container.pause()
                done.append(container)
        yield
    finally:
        for container in done:
            with contextlib.suppress(DockerException):
                container.unpause()


def export_volume(container: Any, volume: str, dest: Path) -> None:
    """The volume's content as a tar file (one top folder: the volume's name)."""
    try:
        with open(dest, "wb") as out:
            stream, _stat = container.get_archive(f"{ROOT}/{volume}")
            for chunk in stream:
                out.write(chunk)
    except DockerException as exc:
        raise Unavailable(f"could not copy volume {volume}: {exc}") from exc


def preflight(client: Any, entries: list[VolumeEntry], *, force: bool) -> None:
    """Refuse before anything changes: a volume that exists must be unused and replaced only with force."""
    for entry in entries:
        try:
            client.volumes.get(entry.docker_name)
        except NotFound:
            continue
        if not force:
            raise FailedPrecondition(
                f"volume {entry.docker_name} already exists: remove it, or restore with force to replace it"
            )
        users = client.containers.list(all=True, filters={"volume": entry.docker_name})
        if users:
            raise FailedPrecondition(f"volume {entry.docker_name} is used by container {users[0].name}")


def check_volume_tar(source: Path, volume: str) -> None:
    """Every member of a volume's tar lies in its folder (it is unpacked there, and nowhere else)."""
    try:
        with tarfile.open(source, mode="r:") as tar:
            for member in tar:
                parts = member.name.split("/")
                if parts[0] != volume or ".." in parts:
                    raise InvalidArgument(f"{source.name}: member {member.name!r} lies outside the volume")
    except tarfile.TarError as exc:
        raise InvalidArgument(f"{source.name} is not a tar file ({exc})") from exc


def import_volumes(client: Any, image: str, entries: list[tuple[VolumeEntry, Path]]) -> None:
    """(Re)create each volume with its labels (Compose then adopts it) and copy its content in."""
    if not entries:
        return
    try:
        for entry, _source in entries:
            with contextlib.suppress(NotFound):
                client.volumes.get(entry.docker_name).remove(force=True)
            client.volumes.create(name=entry.docker_name, labels=entry.labels)
        with helper(client, image, [e.docker_name for e, _ in entries], read_only=False) as container:
            for entry, source in entries:
                with open(source, "rb") as data:
                    if not container.put_archive(ROOT, data):
                        raise Unavailable(f"Docker refused the content of volume {entry.docker_name}")
    except DockerException as exc:
        raise Unavailable(f"could not restore the volumes: {exc}") from exc
