"""Named volumes in and out of backups, through one short-lived helper container: every volume of
the job is mounted into a created (never started) container of the helper image at
`/appos-volumes/<engine volume name>`, and Docker's archive API copies a folder out (`get_archive`)
or in (`put_archive`). Since the container never runs, its image needs no files at all: by default
an empty image AppOS imports itself (EMPTY_HELPER); APPOS_BACKUP_HELPER_IMAGE names another local
one. A volume's tar has one top folder, the engine volume name."""

from __future__ import annotations

import contextlib
import io
import logging
import tarfile
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker.errors import DockerException, ImageNotFound, NotFound

from services.common.errors import FailedPrecondition, InvalidArgument, Unavailable
from services.common.labels import BACKUP_HELPER_LABEL, PROJECT_LABEL, VOLUME_LABEL, project_name
from services.deployer.archive import VolumeEntry

logger = logging.getLogger(__name__)

ROOT = "/appos-volumes"
# Apps whose volumes are copied at the same time: each copy mostly waits on the engine (pause,
# archive, unpause), so a few at once cut a backup of many apps to a fraction.
COPY_WORKERS = 4


def app_volumes(client: Any, app: str) -> list[tuple[str, str, dict[str, str]]]:
    """(compose name, engine name, labels) of the app's named volumes."""
    found = client.volumes.list(filters={"label": f"{PROJECT_LABEL}={project_name(app)}"})
    out = []
    for volume in found:
        labels = dict(volume.attrs.get("Labels") or {})
        out.append((labels.get(VOLUME_LABEL, volume.name), volume.name, labels))
    return sorted(out)


EMPTY_HELPER = "appos/backup-helper:empty"


def helper_image(client: Any, configured: str) -> str:
    """The helper's image: the configured one, which must be on the engine, or else the empty
    image, imported from an empty tar the first time (no registry, no files)."""
    if configured:
        try:
            client.images.get(configured)
        except ImageNotFound as exc:
            raise FailedPrecondition(
                f"the backup helper image {configured!r} is not on this Docker engine "
                "(APPOS_BACKUP_HELPER_IMAGE; leave it unset to use an empty image)"
            ) from exc
        return configured
    try:
        client.images.get(EMPTY_HELPER)
    except ImageNotFound:
        empty = io.BytesIO()
        tarfile.open(fileobj=empty, mode="w").close()
        repository, tag = EMPTY_HELPER.split(":")
        try:
            client.api.import_image_from_data(empty.getvalue(), repository=repository, tag=tag)
        except DockerException as exc:
            raise Unavailable(f"could not create the backup helper image: {exc}") from exc
    except DockerException as exc:
        raise Unavailable(f"Docker did not answer: {exc}") from exc
    return EMPTY_HELPER


@contextlib.contextmanager
def helper(client: Any, image: str, volumes: list[str], *, read_only: bool) -> Iterator[Any]:
    """A created container with each volume at ROOT/<name>; removed on exit."""
    mode = "ro" if read_only else "rw"
    try:
        container = client.containers.create(
            image,
            command=["true"],
            volumes={name: {"bind": f"{ROOT}/{name}", "mode": mode} for name in volumes},
            labels={BACKUP_HELPER_LABEL: "1"},
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
    containers = client.containers.list(
        ignore_removed=True, filters={"label": f"{PROJECT_LABEL}={project_name(app)}"}
    )
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


@dataclass(frozen=True)
class ExportedVolume:
    name: str  # the compose name
    docker_name: str
    labels: dict[str, str]
    tar: Path


def export_apps(
    client: Any, container: Any, found: dict[str, list[tuple[str, str, dict[str, str]]]], work: Path
) -> Generator[tuple[str, list[ExportedVolume]]]:
    """Each app's volumes as tar files in `work`, the app paused while its own are copied; several
    apps at once (COPY_WORKERS), yielded in the order of `found` so the archive is the same every
    time. A failure stops the copies not yet begun and is raised once the running ones are done."""

    def export(app: str) -> list[ExportedVolume]:
        done = []
        with paused(client, app):
            for name, docker_name, labels in found[app]:
                tar = work / f"{docker_name}.tar"
                export_volume(container, docker_name, tar)
                done.append(ExportedVolume(name, docker_name, labels, tar))
        return done

    pool = ThreadPoolExecutor(max_workers=COPY_WORKERS, thread_name_prefix="volume-copy")
    try:
        futures: list[tuple[str, Future[list[ExportedVolume]]]] = [
            (app, pool.submit(export, app)) for app, vols in found.items() if vols
        ]
        for app, future in futures:
            yield app, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def preflight(client: Any, entries: list[VolumeEntry], *, force: bool, going_down: set[str]) -> None:
    """Refuse before anything changes: a volume that exists must be unused and replaced only with
    force. Containers of the apps the restore takes down first (`going_down`) do not count."""
    projects = {project_name(app) for app in going_down}
    for entry in entries:
        try:
            client.volumes.get(entry.docker_name)
        except NotFound:
            continue
        if not force:
            raise FailedPrecondition(
                f"volume {entry.docker_name} already exists: remove it, or restore with force to replace it"
            )
        users = client.containers.list(ignore_removed=True, all=True, filters={"volume": entry.docker_name})
        others = [c for c in users if c.labels.get(PROJECT_LABEL) not in projects]
        if others:
            raise FailedPrecondition(f"volume {entry.docker_name} is used by container {others[0].name}")


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
