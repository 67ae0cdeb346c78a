"""An app's folder to the same path on a server reached only through its Docker API (a tcp://
server: no SSH): a helper container of the backup helper image (volumes.helper_image: the empty
image unless one is configured), never started, binds that path (Docker makes the folder when it is
missing) and the engine unpacks the folder's tar into it (`put_archive`). New and changed files are
written (each replaced, never rewritten in place: Docker removes a file before it unpacks its new
one), files only the server has are kept (an app's data)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from docker.errors import DockerException
from requests.exceptions import RequestException

from services.common.dockerd import docker_client
from services.common.errors import Unavailable
from services.common.labels import BACKUP_HELPER_LABEL
from services.deployer import volumes
from services.deployer.servers.tlslink import TlsLink

MOUNT = "/appos-app"


def copy_through(link: TlsLink, *, folder: Path, archive: bytes, configured_image: str) -> None:
    """`archive` unpacked at `folder` on the link's server, through its forwarded socket."""
    if not link.connected:
        raise Unavailable(f"server {link.name!r} is not connected: {link.error or 'connecting'}")
    try:
        client = docker_client(link.docker_host, timeout=120)
    except DockerException as exc:
        raise Unavailable(f"server {link.name}: {link.error or link.diagnose(exc)}") from exc
    try:
        copy_folder(
            client, server=link.name, folder=folder, archive=archive, configured_image=configured_image
        )
    finally:
        client.close()


def copy_folder(client: Any, *, server: str, folder: Path, archive: bytes, configured_image: str) -> None:
    """`archive` (the folder's tar, relative names) unpacked at `folder` on the server."""
    image = volumes.helper_image(client, configured_image)
    try:
        container = client.containers.create(
            image,
            command=["true"],
            volumes={str(folder): {"bind": MOUNT, "mode": "rw"}},
            labels={BACKUP_HELPER_LABEL: "1"},
            network_disabled=True,
        )
    except (DockerException, RequestException) as exc:
        raise Unavailable(f"copying the app's files to server {server!r} failed: {exc}") from exc
    try:
        if not container.put_archive(MOUNT, archive):
            raise Unavailable(
                f"copying the app's files to server {server!r} failed: Docker refused the archive"
            )
    except (DockerException, RequestException) as exc:
        raise Unavailable(f"copying the app's files to server {server!r} failed: {exc}") from exc
    finally:
        with contextlib.suppress(DockerException, RequestException):
            container.remove(force=True)
