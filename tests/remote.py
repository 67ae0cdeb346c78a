"""A remote server for the multi-server tests (issue 21), made on this one machine: a network
namespace with its own address on a veth pair, a second dockerd and an sshd running in it, the
busybox test image loaded into that engine.

    host  10.231.x.1 ── veth ── 10.231.x.2  netns appos-t-<pid>-<n>: sshd :22, dockerd + containerd

Each server takes a free /30 of 10.231.0.0/16 (chosen under a lock, so pytest-xdist workers and
parallel runs never clash); its engine's bridge (10.232.0.0/24) and compose networks
(10.233.0.0/16) exist only inside its namespace, which has no default route: nothing there reaches
past the host's end of the veth. `serve_tls()` restarts the engine also listening on
`tcp://<address>:2376` with `--tlsverify` and the certificates the test made (tests/tlscerts.py),
as a real server does for Docker over TLS. The engine listens on `/run/appos-t-<pid>-<n>/docker.sock`, the
path this server names as a real one names /var/run/docker.sock (that one is the host's engine):
`ssh -N -L local.sock:<docker_socket>` forwards it. Root logs in with a key only.

Everything made here is removed on exit, also when the test fails: containers, sshd and dockerd
(by pid), every process left in the namespace or in the engine's cgroup, mounts, the namespace and
the veth, the folders. A missing part (ip, iptables, nsenter, dockerd, sshd, ssh-keygen) fails the
test with the Debian package to install; nothing is skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import itertools
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common import dockerd
from services.launcher import stop_process
from tests.harness import BUSYBOX_IMAGE, Stack, build_busybox_image, wait_for

SUBNET = ipaddress.IPv4Network("10.231.0.0/16")  # one /30 per server
BRIDGE_IP = "10.232.0.1/24"  # the remote engine's docker0, inside its namespace only
ADDRESS_POOL = "base=10.233.0.0/16,size=24"  # its compose networks, inside its namespace only
SSH_PORT = 22
TLS_PORT = 2376
SSH_USER = "root"
LOCK = Path("/run/appos-remote-servers.lock")
TOOLS = {  # what a remote server needs → the Debian package that has it
    "ip": "iproute2",
    "iptables": "iptables",
    "nsenter": "util-linux",
    "dockerd": "docker.io",
    "sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
}
# What a remote server runs of its own; `processes()` reports everything else in the namespace.
# (/proc's comm is cut at 15 characters: containerd-shim-runc-v2 reads containerd-shim.)
INFRA = {"dockerd", "containerd", "containerd-shim", "docker-proxy", "sshd"}
_serial = itertools.count(1)


def tool(name: str) -> str:
    """The path of `name`, failing the test with the package to install when it is missing."""
    path = shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    assert path, f"{name} is not installed (apt-get install {TOOLS.get(name, name)})"
    return path


def run(*argv: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command (in `netns` when given); a failure raises with its stderr."""
    command = [tool(argv[0]), *argv[1:]]
    if netns is not None:
        command = [tool("nsenter"), f"--net=/run/netns/{netns}", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def make_ssh_key(path: Path) -> str:
    """A new ed25519 key pair at `path` (+ `.pub`), without passphrase; returns the public key."""
    path.unlink(missing_ok=True)
    Path(f"{path}.pub").unlink(missing_ok=True)
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path))
    return Path(f"{path}.pub").read_text().strip()


def fingerprint(public_key_file: Path) -> str:
    """`SHA256:…` as `ssh-keygen -lf` prints it."""
    return run("ssh-keygen", "-lf", str(public_key_file)).stdout.split()[1]


@dataclass
class RemoteServer:
    """A running remote server; `remote_server()` makes one."""

    name: str
    address: str  # the namespace's own address, reachable from the host
    ssh_port: int
    ssh_user: str
    docker_socket: str  # the engine's socket, as the server names it
    host_key_fingerprint: str  # SHA256:…
    sshd_log: Path
    netns: str
    image: str  # the busybox test image, loaded into this engine
    folder: Path = field(repr=False)
    run_dir: Path = field(repr=False)
    host_interface: str = field(repr=False)
    _sshd: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _engines: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)
    _cut: bool = field(default=False, repr=False)

    @property
    def ssh_url(self) -> str:
        """The address as `POST /api/v1/servers` takes it."""
        return f"ssh://{self.ssh_user}@{self.address}:{self.ssh_port}"

    @property
    def tls_url(self) -> str:
        """The address as `POST /api/v1/servers` takes it for Docker over TLS (after `serve_tls`)."""
        return f"tcp://{self.address}:{TLS_PORT}"

    def serve_tls(self, *, ca: Path, cert: Path, key: Path) -> None:
        """The engine restarted listening on its socket and on tcp://<address>:2376 with
        --tlsverify (client certificates signed by `ca` only); its containers are removed."""
        _stop_engine(self._engines[-1], Path(self.docker_socket))
        tls_args = (
            *("-H", f"tcp://{self.address}:{TLS_PORT}", "--tlsverify"),
            *("--tlscacert", str(ca), "--tlscert", str(cert), "--tlskey", str(key)),
        )
        self._engines.append(_start_engine(self.netns, self.folder, self.run_dir, tls_args))

    @property
    def host_key_file(self) -> Path:
        return self.run_dir / "ssh" / "ssh_host_ed25519_key"

    def known_hosts_entry(self) -> str:
        """The host key as a known_hosts line, to pin it."""
        host = self.address if self.ssh_port == 22 else f"[{self.address}]:{self.ssh_port}"
        key_type, key = Path(f"{self.host_key_file}.pub").read_text().split()[:2]
        return f"{host} {key_type} {key}"

    def authorize(self, public_key: str) -> None:
        """Let the holder of `public_key` log in as `ssh_user`."""
        with (self.run_dir / "ssh" / "authorized_keys").open("a") as keys:
            keys.write(public_key.strip() + "\n")

    def add_to(self, stack: Stack, token: str) -> dict[str, Any]:
        """Add this server to `stack` over SSH under its own name, AppOS's key authorized here first:
        the 201 reply (the add checks SSH, the host key and Docker, so it may take a while)."""
        with stack.client(token) as c:
            self.authorize(c.get("/api/v1/servers/key").json()["public_key"])
            r = c.post(
                "/api/v1/servers",
                json={"name": self.name, "address": self.ssh_url, "docker_socket": self.docker_socket},
                timeout=90,
            )
        assert r.status_code == 201, r.text
        added: dict[str, Any] = r.json()
        return added

    def cut(self) -> None:
        """Drop every packet between the namespace and the host (a new connection times out;
        open ones hang): nothing is refused, as when a server's network goes away."""
        for rule in self._cut_rules():
            run("iptables", "-I", *rule, netns=self.netns)
        self._cut = True

    def restore(self) -> None:
        """Undo `cut()`."""
        if self._cut:
            for rule in self._cut_rules():
                run("iptables", "-D", *rule, netns=self.netns)
            self._cut = False

    @staticmethod
    def _cut_rules() -> list[list[str]]:
        # raw PREROUTING sees every packet that comes in (before the engine's DNAT) and mangle
        # POSTROUTING every one that goes out, the namespace's own and its containers'.
        return [
            ["PREROUTING", "-t", "raw", "-i", "eth0", "-j", "DROP"],
            ["POSTROUTING", "-t", "mangle", "-o", "eth0", "-j", "DROP"],
        ]

    def swap_host_key(self) -> str:
        """A new host key, sshd restarted with it (open sessions go on); returns its fingerprint."""
        self.stop_sshd()
        make_ssh_key(self.host_key_file)
        self.host_key_fingerprint = fingerprint(Path(f"{self.host_key_file}.pub"))
        self.start_sshd()
        return self.host_key_fingerprint

    def ssh_connections(self) -> int:
        """How many SSH logins sshd accepted (its log), since the server was made."""
        return self.sshd_log.read_text().count("Accepted publickey for ")

    def docker_client(self) -> Any:
        """A client for this engine straight through its socket, as an admin on the server sees it."""
        return dockerd.docker_client(f"unix://{self.docker_socket}", timeout=60)

    def containers(self) -> list[str]:
        """Names of every container on this engine, running or not."""
        client = self.docker_client()
        try:
            return sorted(c.name for c in client.containers.list(all=True))
        finally:
            client.close()

    def processes(self) -> list[str]:
        """Command lines of what runs in the namespace besides dockerd, containerd, its shims,
        docker-proxy and sshd (containers run in namespaces of their own and are not listed)."""
        found = []
        for pid in _netns_pids(self.netns):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # ended meanwhile
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                if comm not in INFRA and not comm.startswith("runc"):
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                    found.append(" ".join(a.decode() for a in argv if a))
        return found

    def start_sshd(self) -> None:
        config, listening = self.run_dir / "ssh" / "sshd_config", self._listening()
        in_netns = [tool("nsenter"), f"--net=/run/netns/{self.netns}"]
        with self.sshd_log.open("ab") as log:  # -E takes over once sshd has read its config
            self._sshd = subprocess.Popen(
                [*in_netns, tool("sshd"), "-D", "-f", str(config), "-E", str(self.sshd_log)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        sshd = self._sshd
        wait_for(
            lambda: self._listening() > listening or sshd.poll() is not None,
            timeout=20,
            what="sshd to listen",
        )
        assert sshd.poll() is None, f"sshd exited {sshd.returncode}: {self.sshd_log.read_text()[-2000:]}"

    def stop_sshd(self) -> None:
        """Stop the listening sshd (the sessions it forked go on until the server is removed)."""
        if self._sshd is not None:
            stop_process(self._sshd, timeout=10)
            self._sshd = None

    def _listening(self) -> int:
        return self.sshd_log.read_text().count("Server listening on") if self.sshd_log.exists() else 0


@contextlib.contextmanager
def remote_server(base: Path, *, name: str) -> Iterator[RemoteServer]:
    """A remote server named `name`, its files in `base / name`; all of it removed on exit."""
    for needed in TOOLS:
        tool(needed)
    netns = f"appos-t-{os.getpid()}-{next(_serial)}"
    folder, run_dir = base / name, Path("/run") / netns
    with contextlib.ExitStack() as undo:
        for made in (folder, run_dir):
            made.mkdir(mode=0o700, parents=True)
            undo.callback(shutil.rmtree, made)
        undo.callback(_unmount_under, (folder, run_dir))
        address, host_interface = _make_namespace(netns, undo)
        undo.callback(_end_leftovers, netns)
        engines = [_start_engine(netns, folder, run_dir)]
        undo.callback(lambda: _stop_engine(engines[-1], run_dir / "docker.sock"))
        server = RemoteServer(
            name=name,
            address=address,
            ssh_port=SSH_PORT,
            ssh_user=SSH_USER,
            docker_socket=str(run_dir / "docker.sock"),
            host_key_fingerprint="",
            sshd_log=folder / "sshd.log",
            netns=netns,
            image=BUSYBOX_IMAGE,
            folder=folder,
            run_dir=run_dir,
            host_interface=host_interface,
            _engines=engines,
        )
        client = server.docker_client()
        try:
            build_busybox_image(client)
        finally:
            client.close()
        _write_sshd_config(server)
        undo.callback(server.stop_sshd)
        server.start_sshd()
        yield server


def _make_namespace(netns: str, undo: contextlib.ExitStack) -> tuple[str, str]:
    """The namespace and its veth, with a /30 no route of the host's overlaps; returns the
    namespace's address and the host's interface."""
    host_interface = f"at{os.getpid()}h{netns.rsplit('-', 1)[1]}"[:15]
    LOCK.touch()
    with LOCK.open() as lock:  # held until the host routes the /30, so no other server takes it
        fcntl.flock(lock, fcntl.LOCK_EX)
        block = _free_block()
        host, remote = (str(a) for a in block.hosts())
        run("ip", "netns", "add", netns)
        undo.callback(_delete_namespace, netns, host_interface)
        run("ip", "link", "add", host_interface, "type", "veth", "peer", "name", "eth0", "netns", netns)
        run("ip", "addr", "add", f"{host}/30", "dev", host_interface)
        run("ip", "link", "set", host_interface, "up")
    run("ip", "addr", "add", f"{remote}/30", "dev", "eth0", netns=netns)
    run("ip", "link", "set", "eth0", "up", netns=netns)
    run("ip", "link", "set", "lo", "up", netns=netns)
    return remote, host_interface


def _free_block() -> ipaddress.IPv4Network:
    taken: list[ipaddress.IPv4Network] = []
    lines = run("ip", "-4", "-o", "addr", "show").stdout.splitlines()
    for word in [line.split()[3] for line in lines] + [
        line.split()[0] for line in run("ip", "-4", "route", "show").stdout.splitlines()
    ]:
        if word[0].isdigit():
            taken.append(ipaddress.IPv4Network(word, strict=False))
    blocks = list(SUBNET.subnets(new_prefix=30))
    start = (os.getpid() * 7919) % len(blocks)
    for i in range(len(blocks)):
        block = blocks[(start + i) % len(blocks)]
        if not any(block.overlaps(net) for net in taken):
            return block
    raise RuntimeError(f"no free /30 left in {SUBNET}")


def _start_engine(
    netns: str, folder: Path, run_dir: Path, extra: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """dockerd (its own containerd under its exec-root) in the namespace; returns once it answers."""
    config = folder / "daemon.json"
    config.write_text("{}\n")  # never the host's /etc/docker/daemon.json
    sock = run_dir / "docker.sock"
    args = [
        *("--config-file", str(config), "--data-root", str(folder / "docker")),
        *("--exec-root", str(run_dir / "exec"), "--pidfile", str(run_dir / "dockerd.pid")),
        *("-H", f"unix://{sock}", "--bip", BRIDGE_IP, "--default-address-pool", ADDRESS_POOL),
        *("--iptables=true", "--cgroup-parent", netns),
        *("--containerd-namespace", netns, "--containerd-plugins-namespace", f"{netns}-plugins"),
        *extra,
    ]
    log_path = folder / "dockerd.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [tool("nsenter"), f"--net=/run/netns/{netns}", tool("dockerd"), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(
            lambda: proc.poll() is not None or _engine_answers(sock),
            timeout=60,
            what="the remote dockerd to answer",
        )
        assert proc.poll() is None, f"dockerd exited {proc.returncode}: {log_path.read_text()[-2000:]}"
    except BaseException:
        _stop_engine(proc, sock)
        raise
    return proc


def _engine_answers(sock: Path) -> bool:
    # The Docker SDK leaks its socket when the connect fails: try it here first.
    try:
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(str(sock))
    except OSError:
        return False
    return dockerd.docker_answers(f"unix://{sock}")


def _stop_engine(proc: subprocess.Popen[bytes], sock: Path) -> None:
    """Its containers removed first (their mounts and cgroups go with them), then dockerd."""
    if proc.poll() is None and _engine_answers(sock):
        client = dockerd.docker_client(f"unix://{sock}", timeout=60)
        try:
            for container in client.containers.list(all=True):
                container.remove(force=True, v=True)
        finally:
            client.close()
    stop_process(proc, timeout=30)


def _write_sshd_config(server: RemoteServer) -> None:
    ssh = server.run_dir / "ssh"  # under /run, root's alone: sshd's StrictModes accepts it
    ssh.mkdir(mode=0o700)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # Debian's sshd needs it (privilege separation)
    make_ssh_key(server.host_key_file)
    server.host_key_fingerprint = fingerprint(Path(f"{server.host_key_file}.pub"))
    (ssh / "authorized_keys").touch(mode=0o600)
    (ssh / "sshd_config").write_text(
        f"ListenAddress {server.address}:{server.ssh_port}\n"
        f"HostKey {server.host_key_file}\n"
        f"PidFile {ssh / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {ssh / 'authorized_keys'}\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\n"
        "UsePAM no\n"
        "AllowStreamLocalForwarding yes\n"
        "AllowTcpForwarding yes\n"
        "X11Forwarding no\n"
        "PrintMotd no\n"
        "Subsystem sftp internal-sftp\n"
        "LogLevel VERBOSE\n"
    )


def _netns_pids(netns: str) -> list[int]:
    result = run("ip", "netns", "pids", netns, check=False)
    return [int(pid) for pid in result.stdout.split()]


def _cgroup_pids(parent: str) -> list[int]:
    """Processes in the engine's cgroup parent: its containers', wherever their namespaces are."""
    pids = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, NotADirectoryError):
            if entry.name.isdigit() and f"/{parent}/" in (entry / "cgroup").read_text():
                pids.append(int(entry.name))
    return pids


def _end_leftovers(netns: str) -> None:
    """SIGKILL to what is still in the namespace (sshd's sessions, say) or the engine's cgroup;
    then the engine's cgroup folders go."""
    pids = set(_netns_pids(netns)) | set(_cgroup_pids(netns))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_for(
        lambda: not (set(_netns_pids(netns)) | set(_cgroup_pids(netns))) & pids,
        timeout=10,
        what=f"the processes left in {netns} to end",
    )
    for top in [*Path("/sys/fs/cgroup").glob(f"*/{netns}"), Path("/sys/fs/cgroup") / netns]:
        for folder, _dirs, _files in os.walk(top, topdown=False):
            os.rmdir(folder)


def _unmount_under(folders: tuple[Path, ...]) -> None:
    """Mounts an engine that did not stop cleanly left in the folders (deepest first)."""
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for point in sorted(points, key=len, reverse=True):
        if any(point == str(f) or point.startswith(f"{f}/") for f in folders):
            run("umount", "-l", point)


def _delete_namespace(netns: str, host_interface: str) -> None:
    if Path(f"/sys/class/net/{host_interface}").exists():
        run("ip", "link", "del", host_interface)  # takes its peer in the namespace along
    run("ip", "netns", "del", netns)
