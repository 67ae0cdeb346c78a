"""The servers AppOS deploys to: `local`, and the remote engines in state, each with its link: an
SSH tunnel (tunnel.py) or, for tcp://, a TLS forwarder (tlslink.py); both keep the engine at
`<run>/s/<name>/docker.sock` and answer the same probes.

Adding one checks everything before anything is saved: the address, the host key (scanned now and
pinned) and SSH with AppOS's key — or the TLS material, the handshake with it and the engine's
certificate (its fingerprint pinned) —, Docker through the forwarded socket, the engine's API
version. The link that made the check is the server's connection from then on. A server's files:
`$APPOS_DATA/servers/<name>/known_hosts` (the pinned key) or `ca.pem`, `cert.pem`, `key.pem` (0600);
its sockets: `<run>/s/<name>/`.
"""

from __future__ import annotations

import functools
import io
import logging
import shlex
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path

from appos.v1 import servers_pb2, state_pb2
from services.common import engines
from services.common.dockerd import docker_client
from services.common.errors import AlreadyExists, InvalidArgument, NotFound, Unavailable
from services.common.names import validate_dns_label
from services.common.state_client import StateClient
from services.common.timestamps import set_ts
from services.deployer.servers import apicopy, certs, keys, sftp, ssh
from services.deployer.servers.address import SshAddress, TlsAddress, parse_address, parse_socket
from services.deployer.servers.tlslink import TlsLink
from services.deployer.servers.tunnel import UP, Tunnel, api_at_least
from services.deployer.settings import DeployerSettings

logger = logging.getLogger(__name__)

LOCAL = "local"
RESERVED = (LOCAL, "key")
CHECK_SECONDS = 20.0  # how long an add waits for SSH and Docker to answer
# How long a deployment waits for a server whose connection is being made (a server that is down is
# not waited for: its deployments fail at once with the reason).
CONNECT_WAIT_SECONDS = 20.0


class Servers:
    def __init__(self, settings: DeployerSettings, state: StateClient) -> None:
        self.settings = settings
        self.state = state
        self.files = settings.data / "servers"
        self._tunnels: dict[str, Tunnel | TlsLink] = {}
        self._lock = threading.Lock()
        self._change_lock = threading.Lock()  # one change told at a time, in order
        self._adding: set[str] = set()
        self._key: Path | None = None
        self._copies = sftp.Sessions()  # each server's SFTP session, for the apps' folders
        # told the names of the servers there are now, at the start and whenever one comes or goes
        # (what follows each server: the worker's deployments queue for it, say)
        self.on_change: Callable[[set[str]], None] | None = None

    # --- the key ---

    @property
    def key(self) -> Path:
        if self._key is None:
            self._key = keys.ensure_key(self.settings.secrets_dir)
        return self._key

    def public_key(self) -> servers_pb2.ServerKey:
        line, fingerprint = keys.public_key(self.key)
        return servers_pb2.ServerKey(public_key=line, fingerprint=fingerprint)

    # --- start, probe, stop ---

    def start(self) -> None:
        """A tunnel for every server in state (their sockets are made again from nothing)."""
        for row in self._rows():
            self._open(row)
        self._changed()

    def probe_all(self) -> None:
        for tunnel in list(self._tunnels.values()):
            tunnel.probe()

    def stop(self) -> None:
        for tunnel in list(self._tunnels.values()):
            tunnel.stop()
        self._copies.close()

    def sync_folder(self, server: str, folder: Path, *, timeout: float = 120.0) -> None:
        """The app folder's files to the same path on the server, over its one connection: new and
        changed files are written (never a file in place: a temporary copy is renamed over it),
        files only the server has are kept (an app's data)."""
        tunnel = self._tunnels.get(server)
        if tunnel is None:
            raise NotFound(f"server {server!r} does not exist")
        if isinstance(tunnel, TlsLink):
            apicopy.copy_through(
                tunnel,
                folder=folder,
                archive=_tar(folder),
                configured_image=self.settings.backup_helper_image,
            )
            return
        if not tunnel.control.exists():
            raise Unavailable(f"server {server!r} is not connected: {tunnel.error or 'connecting'}")
        command = functools.partial(
            ssh.subsystem_command, tunnel.address, key=self.key, known_hosts=tunnel.known_hosts,
            control=tunnel.control, subsystem="sftp",
        )  # fmt: skip
        try:  # through the server's SFTP session, kept open: no new session (nor login shell) per copy
            self._copies.copy(server, folder, command=command, timeout=timeout)
            return
        except sftp.NoSftp as exc:
            logger.warning("server %s: no SFTP session (%s); copying by a shell command", server, exc.message)
        except sftp.SftpError as exc:
            raise Unavailable(f"copying the app's files to server {server!r} failed: {exc.message}") from exc
        self._copy_by_shell(server, tunnel, folder, timeout)

    def _copy_by_shell(self, server: str, tunnel: Tunnel, folder: Path, timeout: float) -> None:
        """The copy for a server whose sshd gives no SFTP session: a tar, unpacked by a shell command
        in a new session (which runs the user's login shell each time)."""
        archive = _tar(folder)
        remote = f"sh -c {shlex.quote(_SYNC_SCRIPT)} appos-sync {shlex.quote(str(folder))}"
        command = ssh.session_command(
            tunnel.address,
            key=self.key,
            known_hosts=tunnel.known_hosts,
            control=tunnel.control,
            remote=remote,
        )
        try:
            done = subprocess.run(command, input=archive, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise Unavailable(
                f"copying the app's files to server {server!r} took longer than {int(timeout)} s"
            ) from exc
        if done.returncode != 0:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            said = lines[-1] if lines else f"exit status {done.returncode}"
            raise Unavailable(f"copying the app's files to server {server!r} failed: {said}")

    def require_answering(self, server: str) -> None:
        """Unavailable, naming the server and why, unless its engine answers now (a deployment's
        first step on a remote server): one that is down fails at once, one still connecting is
        waited for up to CONNECT_WAIT_SECONDS."""
        tunnel = self._tunnels.get(server)
        if tunnel is None:
            raise Unavailable(f"server {server!r} does not exist (it was removed)")
        if not tunnel.answering(wait=CONNECT_WAIT_SECONDS):
            raise Unavailable(f"server {server} is {tunnel.status}: {tunnel.error or 'not answering'}")

    def explain(self, server: str) -> str:
        """Why the server's engine does not answer, when its connection knows ("" otherwise)."""
        tunnel = self._tunnels.get(server)
        if tunnel is None or (tunnel.status == UP and tunnel.connected):
            return ""
        return f"server {server} is {tunnel.status}: {tunnel.error or 'not answering'}"

    def require_up(self, server: str) -> None:
        """InvalidArgument unless `server` exists and its engine answered the last probe."""
        tunnel = self._tunnels.get(server)
        if tunnel is None:
            raise InvalidArgument(f"server {server!r} does not exist; add it first (POST /api/v1/servers)")
        if tunnel.status != UP:
            raise InvalidArgument(f"server {server!r} is {tunnel.status}: {tunnel.error or 'not answering'}")

    # --- changes ---

    def add(
        self,
        *,
        name: str,
        address: str,
        docker_socket: str,
        actor: str,
        tls_pems: tuple[str, str, str] = ("", "", ""),
    ) -> servers_pb2.Server:
        """`tls_pems`: (CA, client certificate, key), for a tcp:// address only."""
        name = validate_dns_label(name.strip(), what="server name")
        if name in RESERVED:
            raise InvalidArgument(f"{name!r} is reserved; give the server another name")
        parsed = parse_address(address)
        if isinstance(parsed, TlsAddress):
            if docker_socket.strip():
                raise InvalidArgument(
                    "docker_socket is for ssh:// servers; a tcp:// address names the engine"
                )
            ca, cert, key = tls_pems
            material = certs.check_material(ca_pem=ca, cert_pem=cert, key_pem=key)
        elif any(pem.strip() for pem in tls_pems):
            raise InvalidArgument(
                "ca_pem, cert_pem and key_pem are for tcp:// servers; ssh:// uses AppOS's key"
            )
        else:
            socket = parse_socket(docker_socket)
        with self._lock:
            if name in self._adding or name in self._tunnels:
                raise AlreadyExists(f"a server named {name!r} already exists")
            self._adding.add(name)
        try:
            if isinstance(parsed, TlsAddress):
                return self._add_tls(name, parsed, material, actor)
            return self._add(name, parsed, socket, actor)
        finally:
            with self._lock:
                self._adding.discard(name)

    def _add(self, name: str, address: SshAddress, socket: str, actor: str) -> servers_pb2.Server:
        if any(row.name == name for row in self._rows()):
            raise AlreadyExists(f"a server named {name!r} already exists")
        known = ssh.scan_host_key(address)
        fingerprint = ssh.fingerprint(known)
        folder = self.files / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, mode=0o700)
        known_hosts = folder / "known_hosts"
        known_hosts.write_text(_pinned_line(known, address) + "\n")
        tunnel = self._tunnel(name, address, socket, known_hosts)
        row = state_pb2.StateServer(
            name=name, address=str(address), docker_socket=socket,
            known_hosts=known_hosts.read_text(), fingerprint=fingerprint, actor=actor,
        )  # fmt: skip
        return self._keep(tunnel, folder, row)

    def _add_tls(
        self, name: str, address: TlsAddress, material: certs.TlsMaterial, actor: str
    ) -> servers_pb2.Server:
        if any(row.name == name for row in self._rows()):
            raise AlreadyExists(f"a server named {name!r} already exists")
        folder = self.files / name
        shutil.rmtree(folder, ignore_errors=True)
        material.save(folder)
        link = TlsLink(
            name=name, address=address, files=folder, pinned="",
            folder=engines.forwarded_socket(self.settings.sockets, name).parent,
        )  # fmt: skip
        try:
            der = link.engine_certificate()
        except InvalidArgument:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        link.pinned = certs.fingerprint(der)
        row = state_pb2.StateServer(
            name=name, address=str(address), known_hosts=certs.der_to_pem(der), fingerprint=link.pinned,
            actor=actor,
        )  # fmt: skip
        return self._keep(link, folder, row)

    def _keep(self, link: Tunnel | TlsLink, folder: Path, row: state_pb2.StateServer) -> servers_pb2.Server:
        """The new server's link started and checked, then its row saved; nothing kept on failure."""
        saved = False
        try:
            link.start()
            self._check(link)
            created = self.state.stub.CreateServer(row)
            saved = True
        finally:
            if not saved:
                link.stop()
                shutil.rmtree(folder, ignore_errors=True)
                shutil.rmtree(link.folder, ignore_errors=True)
        with self._lock:
            self._tunnels[row.name] = link
        self._changed()
        logger.info("server %s added (%s, pinned %s)", row.name, row.address, row.fingerprint)
        return self._reply(created)

    def _check(self, tunnel: Tunnel | TlsLink) -> None:
        if not tunnel.wait_connected(CHECK_SECONDS):
            raise InvalidArgument(tunnel.error or f"no connection within {int(CHECK_SECONDS)} s")
        if not tunnel.probe():
            raise InvalidArgument(tunnel.error)
        if not api_at_least(tunnel.info.api_version):
            raise InvalidArgument(
                f"the server's Docker speaks API {tunnel.info.api_version or '?'}; AppOS needs 1.41 "
                "(Docker Engine 20.10) or newer"
            )

    def repin(self, name: str, actor: str) -> servers_pb2.Server:
        row = self._row(name)
        address = parse_address(row.address)
        if isinstance(address, TlsAddress):
            der = self._link(name).engine_certificate()
            known, fingerprint = certs.der_to_pem(der), certs.fingerprint(der)
        else:
            scanned = ssh.scan_host_key(address)
            known, fingerprint = _pinned_line(scanned, address) + "\n", ssh.fingerprint(scanned)
            known_hosts = self.files / name / "known_hosts"
            known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            known_hosts.write_text(known)
        pinned = self.state.stub.PinServerHostKey(
            state_pb2.StatePinServerHostKeyRequest(
                name=name, known_hosts=known, fingerprint=fingerprint, actor=actor
            )
        )
        old = self._tunnels.pop(name, None)
        if old is not None:
            old.stop()
        self._open(pinned)
        return self._reply(pinned)

    def _link(self, name: str) -> TlsLink:
        link = self._tunnels.get(name)
        if not isinstance(link, TlsLink):
            raise Unavailable(f"server {name!r} has no TLS link (yet); try again")
        return link

    def delete(self, name: str, actor: str) -> None:
        if name == LOCAL:
            raise InvalidArgument("`local` is this machine; it cannot be removed")
        self.state.stub.DeleteServer(state_pb2.StateDeleteServerRequest(name=name, actor=actor))
        with self._lock:
            tunnel = self._tunnels.pop(name, None)
        if tunnel is not None:
            tunnel.stop()
            shutil.rmtree(tunnel.folder, ignore_errors=True)
        self._copies.close(name)
        shutil.rmtree(self.files / name, ignore_errors=True)
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            with self._change_lock:
                with self._lock:
                    names = set(self._tunnels)
                self.on_change(names)

    # --- reading ---

    def all(self) -> list[servers_pb2.Server]:
        return [self._local(), *(self._reply(row) for row in self._rows())]

    def get(self, name: str) -> servers_pb2.Server:
        if name == LOCAL:
            return self._local()
        return self._reply(self._row(name))

    def _rows(self) -> list[state_pb2.StateServer]:
        return list(self.state.stub.ListServers(state_pb2.StateListServersRequest()).servers)

    def _row(self, name: str) -> state_pb2.StateServer:
        for row in self._rows():
            if row.name == name:
                return row
        raise NotFound(f"server {name!r} does not exist")

    def _reply(self, row: state_pb2.StateServer) -> servers_pb2.Server:
        tunnel = self._tunnels.get(row.name)
        reply = servers_pb2.Server(
            name=row.name, address=row.address, docker_socket=row.docker_socket,
            host_key_fingerprint=row.fingerprint, apps=row.apps,
            transport="tls" if row.address.startswith("tcp://") else "ssh",
            status=tunnel.status if tunnel else "connecting", error=tunnel.error if tunnel else "",
        )  # fmt: skip
        reply.created_at.CopyFrom(row.created_at)
        if tunnel is not None:
            info = tunnel.info
            reply.engine_version, reply.api_version = info.engine_version, info.api_version
            reply.cpus, reply.memory_bytes = info.cpus, info.memory_bytes
            set_ts(reply.last_seen, tunnel.last_seen or None)
        return reply

    def _local(self) -> servers_pb2.Server:
        reply = servers_pb2.Server(
            name=LOCAL,
            address=LOCAL,
            status="local",
            docker_socket=self.settings.docker_host,
            transport=LOCAL,
        )
        try:
            client = docker_client(self.settings.docker_host, timeout=5)
            try:
                version, info = client.version(), client.info()
            finally:
                client.close()
        except Exception as exc:  # noqa: BLE001 (the list still shows local, with why)
            reply.error = f"Docker does not answer: {type(exc).__name__}"
            return reply
        reply.engine_version, reply.api_version = (
            str(version.get("Version", "")),
            str(version.get("ApiVersion", "")),
        )
        reply.cpus, reply.memory_bytes = int(info.get("NCPU") or 0), int(info.get("MemTotal") or 0)
        return reply

    def _tunnel(self, name: str, address: SshAddress, socket: str, known_hosts: Path) -> Tunnel:
        return Tunnel(
            name=name, address=address, remote_socket=socket, key=self.key, known_hosts=known_hosts,
            folder=engines.forwarded_socket(self.settings.sockets, name).parent,
        )  # fmt: skip

    def _open(self, row: state_pb2.StateServer) -> None:
        address = parse_address(row.address)
        if isinstance(address, TlsAddress):
            link = TlsLink(
                name=row.name, address=address, files=self.files / row.name, pinned=row.fingerprint,
                folder=engines.forwarded_socket(self.settings.sockets, row.name).parent,
            )  # fmt: skip
            with self._lock:
                self._tunnels[row.name] = link
            link.start()
            return
        known_hosts = self.files / row.name / "known_hosts"
        known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        known_hosts.write_text(row.known_hosts)  # state is the record; the file is what ssh reads
        tunnel = self._tunnel(row.name, address, row.docker_socket, known_hosts)
        with self._lock:
            self._tunnels[row.name] = tunnel
        tunnel.start()


# Runs on the server: unpack into a private temporary folder, then move each file that differs into
# place (so a file is never rewritten while something reads it, even on a shared file system).
_SYNC_SCRIPT = r"""set -eu
dest=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -x -C "$tmp" -f -
mkdir -p "$dest"
cd "$tmp"
find . -type d -exec mkdir -p "$dest/{}" \;
find . ! -type d -exec sh -c 'for f; do cmp -s "$f" "$0/$f" || mv -f "$f" "$0/$f"; done' "$dest" {} +
"""


def _tar(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink():
                continue  # the policy refuses links in an app's folder; none is copied either
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return buffer.getvalue()


def _pinned_line(scanned: str, address: SshAddress) -> str:
    """The scanned key under the name ssh looks it up by (`[host]:port` off port 22)."""
    _, key_type, key = scanned.split()[:3]
    return f"{address.known_hosts_name} {key_type} {key}"


def is_up(server: servers_pb2.Server) -> bool:
    return server.status in (UP, "local")
