"""Copying an app's folder to a remote server through its SFTP session (deployer/servers/sftp.py),
on a real server (tests/remote.py) over a real SSH connection with a control master. The test
servers share this machine's file system, so the copy goes to another folder than its source
(`dest`): what a server at another address would get at the same path."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.deployer.servers import keys, manager, sftp, ssh
from services.deployer.servers.address import SshAddress, parse_address
from services.deployer.servers.tunnel import Tunnel
from tests.remote import remote_server


@pytest.fixture
def connected(tmp_path: Path) -> Iterator[tuple[Tunnel, Path, SshAddress, Path]]:
    with remote_server(tmp_path / "r", name="c1") as server:
        key = keys.ensure_key(tmp_path / "secrets")
        server.authorize(keys.public_key(key)[0])
        address = parse_address(server.ssh_url)
        assert isinstance(address, SshAddress)
        known = tmp_path / "known_hosts"
        known.write_text(manager._pinned_line(ssh.scan_host_key(address), address) + "\n")
        tunnel = Tunnel(
            name="c1", address=address, remote_socket=server.docker_socket, key=key, known_hosts=known,
            folder=tmp_path / "s",
        )  # fmt: skip
        tunnel.start()
        try:
            assert tunnel.wait_connected(20)
            yield tunnel, key, address, known
        finally:
            tunnel.stop()


def test_a_folder_is_copied_changed_files_replaced_and_the_servers_own_files_kept(
    connected: tuple[Tunnel, Path, SshAddress, Path], tmp_path: Path
) -> None:
    tunnel, key, address, known = connected

    def command() -> list[str]:
        return ssh.subsystem_command(
            address, key=key, known_hosts=known, control=tunnel.control, subsystem="sftp"
        )

    folder = tmp_path / "apps" / "blog"
    (folder / "conf").mkdir(parents=True)
    (folder / "compose.yaml").write_text("services: {}\n")
    (folder / ".env").write_text("SECRET=1\n")
    os.chmod(folder / ".env", 0o600)
    (folder / "conf" / "big.bin").write_bytes(os.urandom(200_000))  # several SFTP writes and reads
    dest = tmp_path / "server" / "apps" / "blog"  # its parents are made too
    copies = sftp.Sessions()
    try:
        copies.copy("c1", folder, command=command, timeout=30, dest=str(dest))
        for name in ("compose.yaml", ".env", "conf/big.bin"):
            assert (dest / name).read_bytes() == (folder / name).read_bytes()
        assert (dest / ".env").stat().st_mode & 0o777 == 0o600
        assert (dest / "conf").is_dir()

        kept_inode = (dest / "compose.yaml").stat().st_ino
        (dest / "data.db").write_text("the app's own")
        (folder / ".env").write_text("SECRET=2\n")
        copies.copy("c1", folder, command=command, timeout=30, dest=str(dest))
        assert (dest / ".env").read_text() == "SECRET=2\n"
        assert (dest / "compose.yaml").stat().st_ino == kept_inode  # the same content: left alone
        assert (dest / "data.db").read_text() == "the app's own"
        assert not [p for p in dest.iterdir() if p.name.startswith(".appos-sync-")]

        # the connection is made anew: the session ended with it, the next copy opens another
        tunnel._proc.terminate()  # type: ignore[union-attr]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (tunnel.connections < 2 or not tunnel.control.exists()):
            time.sleep(0.2)
        assert tunnel.wait_connected(30) and tunnel.control.exists()
        (folder / "compose.yaml").write_text("services: {web: {image: busybox}}\n")
        copies.copy("c1", folder, command=command, timeout=30, dest=str(dest))
        assert (dest / "compose.yaml").read_text() == "services: {web: {image: busybox}}\n"
    finally:
        copies.close()
