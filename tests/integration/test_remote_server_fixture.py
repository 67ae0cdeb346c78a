"""The remote servers of issue 21's tests (tests/remote.py), proved with the tools a user has: two
at once, each reached through one `ssh -N -L` forward of its Docker socket with a pinned host key;
a published port reached at the server's address; a cut network that makes a new connection time
out until restored; a swapped host key that ssh refuses; and nothing left behind on exit."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.common import dockerd
from tests.harness import wait_for
from tests.remote import RemoteServer, make_ssh_key, remote_server, tool

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("remote_servers")]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RemoteServer, RemoteServer]]:
    base = tmp_path_factory.mktemp("remote")
    with remote_server(base, name="east") as east, remote_server(base, name="west") as west:
        yield east, west


@pytest.fixture(scope="module")
def client_key(tmp_path_factory: pytest.TempPathFactory, servers: tuple[RemoteServer, ...]) -> Path:
    """AppOS's side: its own key pair, authorized on both servers."""
    key = tmp_path_factory.mktemp("appos-key") / "id_ed25519"
    public = make_ssh_key(key)
    for server in servers:
        server.authorize(public)
    return key


def ssh_argv(server: RemoteServer, *, key: Path, known_hosts: Path, extra: list[str]) -> list[str]:
    return [
        tool("ssh"),
        *("-F", "/dev/null", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"),
        *("-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}"),
        *("-o", "ConnectTimeout=10", "-o", "ExitOnForwardFailure=yes", "-p", str(server.ssh_port)),
        *extra,
        f"{server.ssh_user}@{server.address}",
    ]


def pin(server: RemoteServer, folder: Path) -> Path:
    known_hosts = folder / f"known_hosts-{server.name}"
    known_hosts.write_text(server.known_hosts_entry() + "\n")
    return known_hosts


@contextlib.contextmanager
def forwarded(server: RemoteServer, *, key: Path, known_hosts: Path, local: Path) -> Iterator[str]:
    """One SSH connection forwarding the server's Docker socket to `local`; yields its docker URL."""
    log = local.with_suffix(".ssh.log")
    with log.open("wb") as err:
        proc = subprocess.Popen(
            ssh_argv(
                server,
                key=key,
                known_hosts=known_hosts,
                extra=["-N", "-L", f"{local}:{server.docker_socket}"],
            ),
            stdin=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_for(lambda: local.exists() or proc.poll() is not None, timeout=20, what="the forwarded socket")
        assert proc.poll() is None, f"ssh exited {proc.returncode}: {log.read_text()}"
        yield f"unix://{local}"
    finally:
        proc.terminate()
        proc.wait(10)
        local.unlink(missing_ok=True)


def test_two_servers_stand_apart(servers: tuple[RemoteServer, RemoteServer]) -> None:
    east, west = servers
    assert east.address != west.address and east.netns != west.netns
    assert east.docker_socket != west.docker_socket
    assert east.host_key_fingerprint.startswith("SHA256:")
    assert east.host_key_fingerprint != west.host_key_fingerprint
    for server in servers:
        client = server.docker_client()
        try:
            assert server.image in [tag for image in client.images.list() for tag in image.tags]
            assert client.info()["DockerRootDir"] == str(server.folder / "docker")  # not the host's engine
            bridge = client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Subnet"]
            assert bridge == "10.232.0.0/24"
        finally:
            client.close()
        assert server.containers() == []
        assert server.processes() == []


def test_docker_through_one_forwarded_socket(
    servers: tuple[RemoteServer, RemoteServer], client_key: Path, tmp_path: Path
) -> None:
    east, _west = servers
    before = east.ssh_connections()
    with forwarded(
        east, key=client_key, known_hosts=pin(east, tmp_path), local=tmp_path / "docker.sock"
    ) as url:
        client = dockerd.docker_client(url)
        try:
            assert east.image in [tag for image in client.images.list() for tag in image.tags]
            container = client.containers.run(
                east.image,
                [
                    "sh",
                    "-c",
                    "mkdir /www && echo hello from east > /www/index.html && exec httpd -f -p 8080 -h /www",
                ],
                name="fixture-web",
                detach=True,
                ports={"8080/tcp": None},  # Docker picks the port; it is read back as AppOS would
            )
            try:
                container.reload()
                port = int(container.ports["8080/tcp"][0]["HostPort"])
                assert east.containers() == ["fixture-web"]
                body = wait_for(lambda: _get(f"http://{east.address}:{port}/"), timeout=20, what="the app")
                assert body == "hello from east\n"
            finally:
                container.remove(force=True)
        finally:
            client.close()
    assert east.ssh_connections() == before + 1  # every Docker call above went through one connection
    assert east.containers() == []
    assert east.processes() == []


def _get(url: str) -> str | None:
    try:
        response = httpx.get(url, timeout=2, trust_env=False)
    except httpx.TransportError:
        return None
    return response.text if response.status_code == 200 else None


def test_a_cut_network_times_out_until_restored(servers: tuple[RemoteServer, RemoteServer]) -> None:
    _east, west = servers
    west.cut()
    try:
        with pytest.raises(TimeoutError):
            socket.create_connection((west.address, west.ssh_port), timeout=1).close()
    finally:
        west.restore()
    with socket.create_connection((west.address, west.ssh_port), timeout=5) as sock:
        assert sock.recv(64).startswith(b"SSH-2.0-")


def test_a_swapped_host_key_is_refused(
    servers: tuple[RemoteServer, RemoteServer], client_key: Path, tmp_path: Path
) -> None:
    _east, west = servers
    old_pin = pin(west, tmp_path)
    old = west.host_key_fingerprint
    new = west.swap_host_key()
    assert new != old and new.startswith("SHA256:")
    before = west.ssh_connections()
    result = subprocess.run(
        ssh_argv(west, key=client_key, known_hosts=old_pin, extra=["-N"]),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stderr
    assert "Host key verification failed" in result.stderr
    assert west.ssh_connections() == before
    # pinned again, the same key gets in
    with forwarded(
        west, key=client_key, known_hosts=pin(west, tmp_path), local=tmp_path / "docker.sock"
    ) as url:
        assert dockerd.docker_answers(url)
    assert west.ssh_connections() == before + 1


def test_everything_is_removed_also_on_failure(client_key: Path, tmp_path: Path) -> None:
    public = Path(f"{client_key}.pub").read_text()
    with contextlib.ExitStack() as outside:
        with (
            pytest.raises(RuntimeError, match="failed here"),
            remote_server(tmp_path, name="brief") as server,
        ):
            server.authorize(public)
            client = server.docker_client()
            try:
                client.containers.run(server.image, ["sleep", "600"], name="left-running", detach=True)
            finally:
                client.close()
            # an SSH session still open when the server goes
            known_hosts = pin(server, tmp_path)
            outside.enter_context(
                forwarded(server, key=client_key, known_hosts=known_hosts, local=tmp_path / "d.sock")
            )
            pids = [int((server.run_dir / name).read_text()) for name in ("dockerd.pid", "ssh/sshd.pid")]
            raise RuntimeError("the test failed here")
    assert not Path(f"/run/netns/{server.netns}").exists()
    assert not Path(f"/sys/class/net/{server.host_interface}").exists()
    assert not server.folder.exists() and not server.run_dir.exists()
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)
    routes = subprocess.run([tool("ip"), "-4", "route", "show"], capture_output=True, text=True, check=True)
    assert str(ipaddress.ip_network(f"{server.address}/30", strict=False)) not in routes.stdout
    mounts = Path("/proc/self/mountinfo").read_text()
    assert server.netns not in mounts and str(server.folder) not in mounts
