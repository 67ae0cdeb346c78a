"""Which Docker engine an app's server is, as every process reaches it: `local` is the engine at
APPOS_DOCKER_HOST; a remote server is the Unix socket its SSH connection forwards (the deployer's
servers/tunnel.py keeps it at `<run>/s/<server>/docker.sock`, a path every process of the stack
shares) — or, for a tcp:// server, the same socket the deployer's servers/tlslink.py serves,
forwarding each connection over TLS."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.common.names import validate_dns_label

LOCAL = "local"


def forwarded_socket(sockets: Path, server: str) -> Path:
    return sockets / "s" / validate_dns_label(server, what="server name") / "docker.sock"


def docker_host(sockets: Path, server: str, local: str) -> str:
    """The DOCKER_HOST of `server` (`local` when empty)."""
    if server in ("", LOCAL):
        return local
    return f"unix://{forwarded_socket(sockets, server)}"


def is_remote(server: str) -> bool:
    return server not in ("", LOCAL)


def factory_for(server: str, *, sockets: Path, local: Callable[[], Any]) -> Callable[[], Any]:
    """A Docker client factory for `server`'s engine: `local` for this machine's."""
    if not is_remote(server):
        return local
    from services.common.dockerd import docker_client  # the Docker SDK: only where a client is made

    host = docker_host(sockets, server, "")
    return lambda: docker_client(host)
