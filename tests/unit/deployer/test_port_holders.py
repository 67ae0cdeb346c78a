"""Who holds a host port (deployer/ports.py), with a stand-in for Docker's container list and a real
socket holding the port."""

from __future__ import annotations

import socket
from typing import Any

from services.deployer.ports import ANOTHER_PROGRAM, APPOS_ITSELF, Holders, Published


class _Container:
    def __init__(self, app: str, port: int, *, running: bool) -> None:
        binding = [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
        self.attrs: dict[str, Any] = {
            "Name": f"/appos-{app}-web-1",
            "Config": {"Labels": {"com.docker.compose.project": f"appos-{app}"}},
            "State": {"Running": running},
            "HostConfig": {"PortBindings": {"80/tcp": binding}},
            "NetworkSettings": {"Ports": {"80/tcp": binding if running else None}},
        }


class _Containers:
    def __init__(self, found: list[_Container]) -> None:
        self.found = found

    def list(self, **_: Any) -> list[_Container]:
        return self.found


class _Client:
    def __init__(self, *found: _Container) -> None:
        self.containers = _Containers(list(found))


def _held_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_a_port_held_by_the_apps_own_container_being_replaced_is_free_for_it() -> None:
    """While a deploy replaces the container, the new one holds the port before Docker lists it as
    running: still the app's own (a second deploy queued meanwhile was refused for it)."""
    with _held_port() as sock:
        port = sock.getsockname()[1]
        holders = Holders(own_ports={}, client=_Client(_Container("blog", port, running=False)))
        wanted = Published("web", "127.0.0.1", port, "tcp")
        assert holders.holder(wanted, app="blog") == ""
        assert holders.holder(wanted, app="other") == ANOTHER_PROGRAM


def test_a_running_container_of_another_app_is_named() -> None:
    with _held_port() as sock:
        port = sock.getsockname()[1]
        holders = Holders(own_ports={}, client=_Client(_Container("blog", port, running=True)))
        assert holders.holder(Published("web", "", port, "tcp"), app="shop") == "the app blog"
        assert holders.holder(Published("web", "", port, "tcp"), app="blog") == ""


def test_appos_own_ports_are_never_free() -> None:
    holders = Holders(own_ports={8081: "its public gRPC port"}, client=_Client())
    assert (
        holders.holder(Published("web", "", 8081, "tcp"), app="blog")
        == f"{APPOS_ITSELF} (its public gRPC port)"
    )
