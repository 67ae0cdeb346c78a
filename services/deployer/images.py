"""What an app's services ran, by digest, and how a rollback runs exactly that again (issue 19).

    a deploy, redeploy, start or restart succeeded
        → read()          each service's container: the image its compose file names, the local
                          image ID it runs, and that image's registry digest when it has one
    a deploy, redeploy or start of a version made by a rollback (by hand or automatic)
        → pins_for()      the images recorded by the newest succeeded deployment of the version
                          rolled back to (state, ListDeployments by version; newest_recorded())
        → refuse_missing() a local image ID no longer on the engine fails the deployment before
                          Compose runs, naming the service and the image: never the moved tag
        → override_files() a Compose file that sets nothing but those services' `image:` to the
                          pinned reference (`repo@sha256:…`, or the local image ID), passed to
                          Compose as a second `--file` (compose.Project.overrides)

Why an override file, kept in a private temporary folder for the one Compose run: the version's
compose.yaml stays byte for byte what was stored, so history, diff and the drift check (they
compare compose.yaml and .env on disk with the version) see no change; the policy checks
compose.yaml and .env right before Compose as for any start, and the override can only swap a
service's image for one the app already ran (its content is made here from a strict pattern);
outside the app's folder, no container can bind it and write into it between the check and the
run. Not chosen: re-pointing the tag on the engine to the old image. A tag is shared by every app
and every user of the engine, `latest` would then claim an image the registry no longer calls
that, and the next pull would silently undo the rollback.

A digest is the registry's (`RepoDigests`) for the image's own repository when there is one, else
the local image ID (an image built here and never pushed). A repo digest can be pulled again; a
local ID only runs while the image is still on this engine.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from docker.errors import DockerException, ImageNotFound

from appos.v1 import apps_pb2, state_pb2
from services.common.errors import FailedPrecondition
from services.common.labels import NUMBER_LABEL, SERVICE_LABEL, is_oneoff
from services.common.state_client import StateClient
from services.deployer import runtime
from services.deployer.updates.refs import InvalidReference, is_digest, parse_reference

logger = logging.getLogger(__name__)

# Actions whose succeeded deployment records images (they leave containers that run them).
RECORDS_IMAGES = ("deploy", "redeploy", "start", "restart", "update")
_IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")
# Succeeded deployments of one version looked at for recorded images (newest first).
_LOOK_BACK = 50


@dataclass(frozen=True)
class ServiceImage:
    """The image one service ran: `image` as its compose file names it, `digest` the registry's
    digest of it (else the local image ID), `image_id` the local image ID."""

    service: str
    image: str
    digest: str
    image_id: str

    def to_pb(self) -> apps_pb2.ServiceImage:
        return apps_pb2.ServiceImage(
            service=self.service, image=self.image, digest=self.digest, image_id=self.image_id
        )

    @classmethod
    def from_pb(cls, pb: apps_pb2.ServiceImage) -> ServiceImage:
        return cls(service=pb.service, image=pb.image, digest=pb.digest, image_id=pb.image_id)

    @property
    def local_only(self) -> bool:
        """No registry digest: only the image still on this engine can run it again."""
        return not self.digest or self.digest == self.image_id

    def pinned(self) -> str:
        """The reference that runs exactly this image: `name@sha256:…` for a registry digest, else
        the local image ID. FailedPrecondition (or InvalidReference) when the record cannot say."""
        if self.local_only:
            if not _IMAGE_ID.fullmatch(self.image_id):
                raise FailedPrecondition(
                    f"service {self.service}: no image ID was recorded for {self.image}; it cannot be pinned"
                )
            return self.image_id
        if not is_digest(self.digest):
            raise FailedPrecondition(
                f"service {self.service}: the recorded digest of {self.image} is not one"
            )
        return f"{parse_reference(self.image).name}@{self.digest}"


def repo_digest(image: str, repo_digests: Sequence[str]) -> str:
    """The `sha256:…` of the `RepoDigests` entry for `image`'s own repository ("" when the image
    has none: built here, or pulled by another name). Names compare as Docker normalizes them
    (`nginx`, `docker.io/library/nginx` and `index.docker.io/library/nginx` are one)."""
    try:
        name = parse_reference(image).name
    except InvalidReference:
        return ""
    for entry in repo_digests:
        repository, _, digest = entry.partition("@")
        try:
            if parse_reference(repository).name == name and is_digest(digest):
                return digest
        except InvalidReference:
            continue
    return ""


def read(client: Any, app: str, config: Mapping[str, Any]) -> list[ServiceImage]:
    """What each service of the app runs now, by service name. `config` is the normalized project
    the deployment ran (its `image:` is the reference recorded; a service without one is named by
    its container). What cannot be read is logged and left out: recording what ran must never
    fail a deployment that succeeded."""
    services = config.get("services") or {}
    try:
        containers = [c for c in runtime.containers_of(client, app) if not is_oneoff(c.labels)]
    except (DockerException, requests.RequestException):
        logger.warning("app %s: could not list its containers to record their images", app, exc_info=True)
        return []
    chosen: dict[str, Any] = {}
    for container in sorted(containers, key=_number):
        chosen.setdefault(str(container.labels.get(SERVICE_LABEL, "")), container)
    chosen.pop("", None)
    digests: dict[str, list[str]] = {}
    found = []
    for service, container in sorted(chosen.items()):
        image_id = str(container.attrs.get("Image") or "")
        spec = services.get(service) or {}
        named = str(spec.get("image") or container.attrs.get("Config", {}).get("Image") or "")
        if image_id not in digests:
            try:
                digests[image_id] = list(client.images.get(image_id).attrs.get("RepoDigests") or [])
            except (DockerException, requests.RequestException):
                logger.warning("app %s: could not read image %s of service %s", app, image_id, service)
                digests[image_id] = []
        digest = repo_digest(named, digests[image_id]) or image_id
        found.append(ServiceImage(service=service, image=named, digest=digest, image_id=image_id))
    return found


def _number(container: Any) -> int:
    """Compose's number of a service's container (1 for the first)."""
    number = str(container.labels.get(NUMBER_LABEL, ""))
    return int(number) if number.isdigit() else 0


def newest_recorded(deployments: Sequence[apps_pb2.Deployment], version: int) -> apps_pb2.Deployment | None:
    """Of `deployments` (newest first), the newest succeeded one of `version` that recorded images:
    what that version last ran."""
    for deployment in deployments:
        if (
            deployment.version == version
            and deployment.status == "succeeded"
            and deployment.action in RECORDS_IMAGES
            and deployment.images
        ):
            return deployment
    return None


@dataclass(frozen=True)
class Pins:
    """The images a rollback runs again: `images` by service, as recorded by `deployment_id`,
    which ran version `version`."""

    version: int
    deployment_id: str
    images: dict[str, ServiceImage]


def pins_for(*, state: StateClient, app: str, version: apps_pb2.ConfigVersion) -> Pins | None:
    """For a version made by a rollback: the images the version it copies last ran. None for any
    other version, and when that version never recorded any (deployed before AppOS recorded
    digests): then the tags run as written."""
    if not version.rollback_to:
        return None
    reply: apps_pb2.ListDeploymentsReply = state.stub.ListDeployments(
        state_pb2.StateListDeploymentsRequest(
            app=app, version=version.rollback_to, statuses=["succeeded"], page_size=_LOOK_BACK
        )
    )
    found = newest_recorded(reply.deployments, version.rollback_to)
    if found is None:
        return None
    images = {i.service: ServiceImage.from_pb(i) for i in found.images}
    return Pins(version=version.rollback_to, deployment_id=found.id, images=images)


def pinnable(config: Mapping[str, Any], pins: Pins) -> dict[str, ServiceImage]:
    """The recorded images of the services that run an image as written in `config`: not those
    that build theirs (Compose would build and tag it under the pinned name), nor ones whose
    reference differs from what was recorded."""
    chosen = {}
    for service, spec in sorted((config.get("services") or {}).items()):
        recorded = pins.images.get(service)
        spec = spec or {}
        if recorded is None or spec.get("build") or str(spec.get("image") or "") != recorded.image:
            continue
        chosen[service] = recorded
    return chosen


def refuse_missing(client: Any, pinned: Mapping[str, ServiceImage], *, version: int) -> None:
    """FailedPrecondition, naming the service and the image, when a pinned local image is no longer
    on the engine (no registry could give it back; running the tag instead would run another
    image). A registry digest missing here is left to Compose, which pulls it."""
    for service, image in sorted(pinned.items()):
        if not image.local_only:
            continue
        try:
            client.images.get(image.image_id)
        except ImageNotFound as exc:
            raise FailedPrecondition(
                f"service {service}: image {image.image} as v{version} ran it ({short(image.image_id)}) "
                "is no longer on this server and has no registry digest to pull it by; load or rebuild "
                "that image, or deploy the version as an edit to run what the tag names now"
            ) from exc


def applied(config: Mapping[str, Any], pinned: Mapping[str, ServiceImage]) -> dict[str, Any]:
    """`config` as Compose runs it with the override: each pinned service's image is its pinned
    reference (the rest is shared with `config`, not copied)."""
    services = dict(config.get("services") or {})
    for service, image in pinned.items():
        services[service] = {**(services.get(service) or {}), "image": image.pinned()}
    return {**config, "services": services}


@contextlib.contextmanager
def override_files(pinned: Mapping[str, ServiceImage]) -> Iterator[tuple[Path, ...]]:
    """The Compose override that pins `pinned`, in a private temporary folder while the caller runs
    Compose (no file when nothing is pinned)."""
    if not pinned:
        yield ()
        return
    services = {service: {"image": image.pinned()} for service, image in sorted(pinned.items())}
    with tempfile.TemporaryDirectory(prefix="appos-pins-") as folder:  # 0700
        path = Path(folder) / "pins.yaml"
        path.write_text(json.dumps({"services": services}, indent=2) + "\n")  # JSON is YAML
        yield (path,)


def short(digest: str) -> str:
    """`sha256:0123456789ab`: enough to tell images apart in a line of text."""
    algorithm, _, value = digest.partition(":")
    return f"{algorithm}:{value[:12]}" if value else digest
