"""One long-lived SSH connection per server, forwarding the server's Docker socket to a local Unix
socket (`<run>/s/<server>/docker.sock`) and serving as the control master that any other session to
the server shares. When it drops, it is made again with backoff (1 s doubling to 30 s), never one
connection per call. A probe (`docker version` + `info` through the socket) says whether the
engine answers; one failed probe does not mark the server down — `DOWN_AFTER` in a row do — and the
next good one brings it back."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docker.errors import DockerException
from requests.exceptions import RequestException, Timeout

from services.common.dockerd import docker_client
from services.deployer.servers import ssh
from services.deployer.servers.address import SshAddress

logger = logging.getLogger(__name__)

UP, CONNECTING, DOWN = "up", "connecting", "down"
DOWN_AFTER = 3  # probes in a row
MAX_BACKOFF = 30.0
MIN_API = (1, 41)  # Docker Engine 20.10


def read_engine(docker_host: str, *, timeout: int) -> EngineInfo:
    """`docker version` + `info` through a server's forwarded socket (a probe of the SSH tunnel or
    the TLS link): Docker's or the connection's exception when the engine does not answer."""
    client = docker_client(docker_host, timeout=timeout)
    try:
        version: dict[str, Any] = client.version()
        info: dict[str, Any] = client.info()
    finally:
        client.close()
    return EngineInfo(
        engine_version=str(version.get("Version", "")), api_version=str(version.get("ApiVersion", "")),
        cpus=int(info.get("NCPU") or 0), memory_bytes=int(info.get("MemTotal") or 0),
    )  # fmt: skip


@dataclass
class EngineInfo:
    engine_version: str = ""
    api_version: str = ""
    cpus: int = 0
    memory_bytes: int = 0


@dataclass
class Tunnel:
    name: str
    address: SshAddress
    remote_socket: str
    key: Path
    known_hosts: Path
    folder: Path  # for the local sockets (short: Unix socket paths are limited to 107 bytes)
    probe_timeout: int = 5
    status: str = CONNECTING
    error: str = ""
    last_seen: int = 0  # µs
    info: EngineInfo = field(default_factory=EngineInfo)
    _failures: int = 0
    _proc: subprocess.Popen[bytes] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _connected: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    connections: int = 0  # SSH connections made (one, plus one per reconnect)

    @property
    def local_socket(self) -> Path:
        return self.folder / "docker.sock"  # = services.common.engines.forwarded_socket

    @property
    def control(self) -> Path:
        return self.folder / "control"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.local_socket}"

    @property
    def connected(self) -> bool:
        return self.control.exists()

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._thread = threading.Thread(target=self._run, name=f"ssh-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for path in (self.local_socket, self.control):
            path.unlink(missing_ok=True)

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            started = time.monotonic()
            stderr = self._connect_once()
            if self._stop.is_set():
                return
            self._connected.clear()
            self.error = ssh.explain(stderr, self.address)
            logger.warning("server %s: SSH connection ended: %s", self.name, self.error)
            if self.status == UP:
                self.status = CONNECTING
            if time.monotonic() - started > 60:
                backoff = 1.0  # it held for a while: try again soon
            self._stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _connect_once(self) -> str:
        """Runs one SSH connection until it ends; what ssh said on stderr."""
        self.local_socket.unlink(missing_ok=True)
        self.control.unlink(missing_ok=True)
        log = self.folder / "ssh.log"
        command = ssh.forward_command(
            self.address, key=self.key, known_hosts=self.known_hosts, local_socket=self.local_socket,
            remote_socket=self.remote_socket, control=self.control,
        )  # fmt: skip
        with log.open("wb") as err:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        with self._lock:
            self._proc = proc
        self.connections += 1
        while proc.poll() is None and not self._stop.is_set():
            if not self._connected.is_set() and self.local_socket.exists():
                self._connected.set()
                self.probe()
            self._stop.wait(0.1 if not self._connected.is_set() else 1.0)
        if proc.poll() is None:
            return ""
        return log.read_text(errors="replace")[-4000:]

    def answering(self, *, wait: float) -> bool:
        """Whether the engine answers now: up, or a probe made now succeeds (it may have come back
        since the last one). A connection being made gets up to `wait` seconds; one that is down is
        not waited for."""
        if self.status == UP:
            return True
        if self.status != DOWN:
            self._connected.wait(wait)
        return self._connected.is_set() and self.probe()

    def probe(self) -> bool:
        """Whether the engine answers through the socket now; updates the status."""
        if not self._connected.is_set():
            self._failed(self.error or "connecting")
            return False
        try:
            self.info = read_engine(self.docker_host, timeout=self.probe_timeout)
        except (DockerException, RequestException, OSError) as exc:
            self._failed(self._probe_error(exc))
            return False
        self._failures, self.status, self.error = 0, UP, ""
        self.last_seen = int(time.time() * 1_000_000)
        return True

    def _probe_error(self, exc: Exception) -> str:
        """What a failed probe means (the Docker SDK wraps the cause into its message)."""
        said = f"{type(exc).__name__}: {exc}"
        where = f"{self.address.host}:{self.address.port}"
        if isinstance(exc, Timeout) or "timed out" in said.lower():  # nothing came back at all
            return (
                f"{where} did not answer within {self.probe_timeout} s (its network or the SSH "
                "connection is down)"
            )
        with self._lock:
            proc = self._proc
        if proc is None or _ends_within(proc, 1.0):  # the reset was ssh going away (a network cut)
            return f"the SSH connection to {where} ended"
        # ssh runs on: the server's sshd could not connect the socket there, or what answers is not Docker
        return (
            f"no Docker answers at {self.remote_socket} on the server (is it running, and may "
            f"{self.address.user} use its socket?): {type(exc).__name__}"
        )

    def _failed(self, error: str) -> None:
        self._failures += 1
        self.error = error
        if self._failures >= DOWN_AFTER:
            self.status = DOWN
        elif self.status != UP:
            self.status = CONNECTING


def _ends_within(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def api_at_least(version: str, minimum: tuple[int, int] = MIN_API) -> bool:
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= minimum
