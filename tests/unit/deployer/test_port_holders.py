"""Who holds a host port (deployer/ports.py), with a stand-in for Docker's container list and a real
socket holding the port."""

from __future__ import annotations

import socket
from typing import Any

import docker.errors

from services.deployer.ports import ANOTHER_PROGRAM, APPOS_ITSELF, Holders, Published


class _Container:
    """A container as Docker's list shows it (and, for its inspect, its configured bindings)."""

    def __init__(self, app: str, port: int, *, running: bool) -> None:
        self.id = f"id-{app}-{port}"
        self.listed: dict[str, Any] = {
            "Id": self.id,
            "Names": [f"/appos-{app}-web-1"],
            "Labels": {"com.docker.compose.project": f"appos-{app}"},
            "State": "running" if running else "created",
            # the list shows published ports of running containers only
            "Ports": [{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": port, "Type": "tcp"}]
            if running
            else [],
        }
        self.inspected: dict[str, Any] = {
            "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}}
        }


class _Api:
    def __init__(self, found: list[_Container]) -> None:
        self.found = found
        self.inspected: list[str] = []

    def containers(self, **_: Any) -> list[dict[str, Any]]:
        return [c.listed for c in self.found]

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        self.inspected.append(container_id)
        return next(c.inspected for c in self.found if c.id == container_id)


class _Client:
    def __init__(self, *found: _Container) -> None:
        self.api = _Api(list(found))


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
        client = _Client(_Container("blog", port, running=True))
        holders = Holders(own_ports={}, client=client)
        assert holders.holder(Published("web", "", port, "tcp"), app="shop") == "the app blog"
        assert holders.holder(Published("web", "", port, "tcp"), app="blog") == ""
        assert client.api.inspected == []  # Docker's list said it all: no inspect per container


def test_appos_own_ports_are_never_free() -> None:
    holders = Holders(own_ports={8081: "its public gRPC port"}, client=_Client())
    assert (
        holders.holder(Published("web", "", 8081, "tcp"), app="blog")
        == f"{APPOS_ITSELF} (its public gRPC port)"
    )


def test_a_container_removed_between_the_list_and_its_inspect_holds_nothing() -> None:
    class _Gone(_Api):
        def inspect_container(self, container_id: str) -> dict[str, Any]:
            raise docker.errors.NotFound("gone")

    client = _Client(_Container("blog", 8100, running=False))
    client.api = _Gone(client.api.found)
    holders = Holders(own_ports={}, client=client)
    assert holders.configured == {}


def test_read_for_one_app_only_its_stopped_containers_are_inspected() -> None:
    """A check of one app's ports inspects that app's containers that are not running (their
    configured ports are its own) and no other app's: their configured ports never count."""
    with _held_port() as sock:
        port = sock.getsockname()[1]
        client = _Client(_Container("blog", port, running=False), _Container("shop", port + 1, running=False))
        holders = Holders(own_ports={}, client=client, for_app="blog")
        assert client.api.inspected == ["id-blog-" + str(port)]
        assert holders.holder(Published("web", "127.0.0.1", port, "tcp"), app="blog") == ""
