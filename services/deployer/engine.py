"""The Docker engine as a request reaches it: a client for one call, closed after it, and
Unavailable (not a Docker SDK error) when the engine does not answer.

    server_of()      the server whose engine runs an app (state's record)
    port_holders()   who holds host ports right now (ports.Holders)
    running_binds()  the bind sources of an app's running containers
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import requests
from docker.errors import DockerException

from appos.v1 import state_pb2
from services.common import engines
from services.common.errors import Unavailable
from services.common.state_client import StateClient
from services.deployer import ports, runtime
from services.deployer.settings import DeployerSettings


def server_of(state: StateClient, app: str) -> str:
    """The server the app runs on (NotFound from state for an app it does not know)."""
    record: state_pb2.AppRecord = state.stub.GetApp(state_pb2.StateGetAppRequest(name=app))
    return record.app.server or engines.LOCAL


@contextlib.contextmanager
def _client(docker_factory: Callable[[], Any]) -> Iterator[Any]:
    try:
        with contextlib.closing(docker_factory()) as client:
            yield client
    except (DockerException, requests.RequestException) as exc:
        raise Unavailable("the Docker engine is not answering; try again shortly") from exc


def port_holders(
    settings: DeployerSettings, docker_factory: Callable[[], Any], *, remote: bool = False,
    for_app: str | None = None,
) -> ports.Holders:  # fmt: skip
    """Who holds host ports now (AppOS's own, containers, listeners); of a remote server's engine,
    its containers only. `for_app`: the app whose ports are checked (ports.Holders)."""
    with _client(docker_factory) as client:
        if remote:
            return ports.Holders(own_ports={}, client=client, local_listeners=False, for_app=for_app)
        return ports.Holders(own_ports=settings.own_ports(), client=client, for_app=for_app)


def running_binds(docker_factory: Callable[[], Any], app: str) -> list[str]:
    """The bind sources of the app's running containers (a deploy is refused while one of them
    holds a path of the new version)."""
    with _client(docker_factory) as client:
        return [m.source for m in runtime.bind_mounts(client, app) if m.running]
