"""The Docker engine as a request reaches it: a client for one call, closed after it, and
Unavailable (not a Docker SDK error) when the engine does not answer.

    port_holders()   who holds host ports right now (ports.Holders)
    running_binds()  the bind sources of an app's running containers
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import requests
from docker.errors import DockerException

from services.common.errors import Unavailable
from services.deployer import ports, runtime
from services.deployer.settings import DeployerSettings


@contextlib.contextmanager
def _client(docker_factory: Callable[[], Any]) -> Iterator[Any]:
    try:
        with contextlib.closing(docker_factory()) as client:
            yield client
    except (DockerException, requests.RequestException) as exc:
        raise Unavailable("the Docker engine is not answering; try again shortly") from exc


def port_holders(
    settings: DeployerSettings, docker_factory: Callable[[], Any], *, remote: bool = False
) -> ports.Holders:
    """Who holds host ports now (AppOS's own, containers, listeners); of a remote server's engine,
    its containers only."""
    with _client(docker_factory) as client:
        if remote:
            return ports.Holders(own_ports={}, client=client, local_listeners=False)
        return ports.Holders(own_ports=settings.own_ports(), client=client)


def running_binds(docker_factory: Callable[[], Any], app: str) -> list[str]:
    """The bind sources of the app's running containers (a deploy is refused while one of them
    holds a path of the new version)."""
    with _client(docker_factory) as client:
        return [m.source for m in runtime.bind_mounts(client, app) if m.running]
