"""The stored registry logins an update's `docker compose pull` needs: those of the registries its
services' images name, in a private `DOCKER_CONFIG` folder for the pull alone (`logins.docker_config`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any

from appos.v1 import backups_internal_pb2, backups_internal_pb2_grpc
from services.common.clients import call_metadata, sync_call, sync_channel
from services.common.errors import AppOSError
from services.deployer.updates.logins import PREFIX, docker_config, stored_logins
from services.deployer.updates.refs import parse_reference

if TYPE_CHECKING:
    from services.deployer.settings import DeployerSettings
    from services.deployer.updates.registry import Credentials

logger = logging.getLogger(__name__)


def registries_of(*, config: dict[str, Any], services: list[str]) -> set[str]:
    """The registries (as written: `docker.io`, `127.0.0.1:5000`) the services' images name."""
    found = set()
    for name in services:
        image = (config.get("services") or {}).get(name, {}).get("image")
        if isinstance(image, str) and image:
            try:
                found.add(parse_reference(image).domain)
            except AppOSError:
                continue  # Compose reports a bad reference itself when it pulls
    return found


@contextmanager
def pull_logins(
    *, settings: DeployerSettings, config: dict[str, Any], services: list[str]
) -> Iterator[str | None]:
    """A DOCKER_CONFIG folder with the stored logins of the services' registries, or None (then the
    engine's own logins apply). State not answering is logged and the pull goes on without them."""
    registries = registries_of(config=config, services=services)
    logins: dict[str, Credentials] = {}
    if registries:
        try:
            stored = _read_stored(settings)
        except AppOSError as exc:
            logger.warning("stored registry logins could not be read, pulling without them: %s", exc.message)
        else:
            logins = {r: login for r, login in stored_logins(stored).items() if r in registries}
    if not logins:
        yield None
        return
    with docker_config(logins) as folder:
        yield folder


def read_logins(settings: DeployerSettings) -> dict[str, Credentials]:
    """Every stored login by registry, read once (an update's re-check of its app after success)."""
    return stored_logins(_read_stored(settings))


def _read_stored(settings: DeployerSettings) -> dict[str, Any]:
    """The settings under PREFIX, read on a channel of its own, closed after (one read per pull)."""
    with closing(sync_channel(settings.socket_path("state"))) as channel:
        reply = sync_call(
            backups_internal_pb2_grpc.BackupStateStub(channel).GetSettings,
            backups_internal_pb2.GetSettingsRequest(prefix=PREFIX),
            service="state",
            timeout=settings.rpc_timeout_seconds,
            metadata=call_metadata(),
        )
    return {key: json.loads(value) for key, value in reply.values.items()}
