"""Servers (issue 21) on a real stack and a real remote server (tests/remote.py: a network namespace
with its own dockerd and sshd): added with AppOS's own key and its host key pinned, one SSH
connection kept open and re-made after a network cut, a swapped host key refused until an admin
re-pins it, clear errors and nothing saved for a bad address, a refused key, no Docker, a taken or
reserved name; removed again. Nothing leaves the machine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Stack, free_port, running_stack, wait_for
from tests.remote import RemoteServer, remote_server

pytestmark = [pytest.mark.xdist_group("servers")]


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    """A stack that probes its servers every second (the default is 10 s)."""
    with running_stack(
        tmp_path_factory.mktemp("servers"), extra_env={"APPOS_SERVER_PROBE_SECONDS": "1"}
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def token(own_stack: Stack) -> str:
    return own_stack.login()


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteServer]:
    with remote_server(tmp_path_factory.mktemp("remote"), name="r1") as server:
        yield server


def _server(stack: Stack, token: str, name: str) -> dict[str, Any]:
    with stack.client(token) as c:
        r = c.get(f"/api/v1/servers/{name}")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def _add(stack: Stack, token: str, **body: str) -> Any:
    with stack.client(token) as c:
        return c.post("/api/v1/servers", json=body, timeout=90)


def _names(stack: Stack, token: str) -> list[str]:
    with stack.client(token) as c:
        return [s["name"] for s in c.get("/api/v1/servers").json()["servers"]]


def test_bad_servers_are_refused_clearly_and_nothing_is_saved(
    own_stack: Stack, token: str, remote: RemoteServer, tmp_path: Path
) -> None:
    good = {"address": remote.ssh_url, "docker_socket": remote.docker_socket}
    cases = [
        ({"name": "x1", "address": "tcp://10.0.0.1:2376"}, "plain tcp:// without TLS is refused"),
        ({"name": "x2", "address": "http://host"}, "ssh://user@host"),
        ({"name": "x3", "address": "ssh://host"}, "the user AppOS signs in as"),
        ({"name": "x4", "address": "ssh://root@-oProxyCommand=x"}, "not a host name"),
        ({"name": "x5", "address": f"ssh://root@127.0.0.1:{free_port()}"}, "no SSH server answered"),
        ({"name": "local", **good}, "reserved"),
        ({"name": "Bad_Name", **good}, "server name"),
        ({"name": "x6", "address": remote.ssh_url, "docker_socket": "relative/docker.sock"}, "absolute path"),
        # the key is not authorized yet: sshd refuses it
        ({"name": "x7", **good}, "refused AppOS's key"),
    ]
    for body, needle in cases:
        r = _add(own_stack, token, **body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["code"] and needle in r.json()["message"], (body, r.json())
    assert _names(own_stack, token) == ["local"]
    servers_dir = own_stack.data / "servers"
    assert not servers_dir.exists() or list(servers_dir.iterdir()) == []  # no files left of a failed add

    # authorized, but no Docker at that path on the server
    with own_stack.client(token) as c:
        remote.authorize(c.get("/api/v1/servers/key").json()["public_key"])
    r = _add(own_stack, token, name="x8", address=remote.ssh_url, docker_socket="/run/nothing/docker.sock")
    assert r.status_code == 400 and "no Docker answers at /run/nothing/docker.sock" in r.json()["message"], (
        r.text
    )
    assert _names(own_stack, token) == ["local"]


def test_a_server_is_added_pinned_kept_connected_and_removed(
    own_stack: Stack, token: str, remote: RemoteServer
) -> None:
    with own_stack.client(token) as c:
        key = c.get("/api/v1/servers/key").json()
    assert key["public_key"].startswith("ssh-ed25519 ") and key["fingerprint"].startswith("SHA256:")
    remote.authorize(key["public_key"])
    logins = remote.ssh_connections()
    r = _add(own_stack, token, name="r1", address=remote.ssh_url, docker_socket=remote.docker_socket)
    assert r.status_code == 201, r.text
    added = r.json()
    try:
        assert added["host_key_fingerprint"] == remote.host_key_fingerprint
        assert added["status"] == "up" and added["api_version"] and added["engine_version"], added
        assert added["cpus"] >= 1 and int(added["memory_bytes"]) > 0
        with own_stack.client(token) as c:
            servers = c.get("/api/v1/servers").json()["servers"]
            assert [s["name"] for s in servers] == ["local", "r1"]
            assert servers[0]["status"] == "local" and servers[0]["engine_version"]
            assert _add(own_stack, token, name="r1", address=remote.ssh_url).status_code == 409
            # the key is for admins; the list is for everyone signed in
            assert c.get("/api/v1/servers/nope").status_code == 404
        assert remote.ssh_connections() == logins + 1  # the check's connection is the one kept

        # the network is cut: a dropped probe is not "down", several are; back by itself after
        remote.cut()
        wait_for(lambda: _server(own_stack, token, "r1")["status"] == "down", timeout=60, what="r1 down")
        assert _server(own_stack, token, "r1")["error"]
        # meanwhile the server was reinstalled: a new host key
        new_fingerprint = remote.swap_host_key()
        remote.restore()
        refused = wait_for(
            lambda: (s := _server(own_stack, token, "r1"))["status"] != "up" and "re-pin" in s["error"] and s,
            timeout=90, what="the changed host key refused",
        )  # fmt: skip
        assert refused["host_key_fingerprint"] == added["host_key_fingerprint"], refused
        with own_stack.client(token) as c:
            r = c.post("/api/v1/servers/r1/repin", json={}, timeout=90)
        assert r.status_code == 200 and r.json()["host_key_fingerprint"] == new_fingerprint, r.text
        wait_for(lambda: _server(own_stack, token, "r1")["status"] == "up", timeout=60, what="r1 up again")
    finally:
        with own_stack.client(token) as c:
            assert c.delete("/api/v1/servers/r1").status_code == 200
    assert _names(own_stack, token) == ["local"]
    assert remote.processes() == [], remote.processes()  # nothing of AppOS's runs there


def test_only_admins_add_or_remove_servers(own_stack: Stack, token: str) -> None:
    name, password = "viewer1", "viewer-password-1"
    with own_stack.client(token) as c:
        assert (
            c.post(
                "/api/v1/users", json={"username": name, "password": password, "role": "operator"}
            ).status_code
            == 200
        )
    operator = own_stack.login(name, password)
    with own_stack.client(operator) as c:
        assert c.get("/api/v1/servers").status_code == 200
        assert c.get("/api/v1/servers/key").status_code == 403
        assert c.post("/api/v1/servers", json={"name": "n", "address": "ssh://root@h"}).status_code == 403
        assert c.delete("/api/v1/servers/n").status_code == 403
        assert c.post("/api/v1/servers/n/repin", json={}).status_code == 403
    with own_stack.client() as c:
        assert c.get("/api/v1/servers").status_code == 401
