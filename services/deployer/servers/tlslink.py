"""A tcp:// server's engine at the same local Unix socket an SSH server's tunnel keeps
(`<run>/s/<server>/docker.sock`), so every other process reaches both alike: the deployer listens
there (one asyncio loop on a thread per server) and forwards each accepted connection over TLS to
host:port with AppOS's client certificate, the engine's certificate verified against the CA given
at add (and the address's host name or IP SAN), and refused when its SHA-256 fingerprint is not the
pinned one. There is no long-lived connection to lose: each Docker call makes its own, with TCP
keepalives that give a cut-off server up after about 20 s (as the SSH tunnel's keepalives do).

The interface is the tunnel's (status, error, info, last_seen, probe, answering, start, stop), so
the manager treats both alike; a probe is the same `docker version` + `info` through the socket,
`DOWN_AFTER` failures in a row mark the server down and the next good one brings it back. A probe
that fails says why from a handshake of its own (refused certificate, changed certificate, …).

A client's end of the stream (EOF) ends the forwarded connection: TLS has no half-close, and an
HTTP client never half-closes a request it awaits the answer of.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docker.errors import DockerException
from requests.exceptions import RequestException

from services.common.errors import InvalidArgument
from services.deployer.servers import certs, tls
from services.deployer.servers.address import TlsAddress
from services.deployer.servers.tunnel import CONNECTING, DOWN, DOWN_AFTER, UP, EngineInfo, read_engine

logger = logging.getLogger(__name__)

CHUNK = 64 * 1024
KEEPALIVE = {"TCP_KEEPIDLE": 5, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 3}
USER_TIMEOUT_MS = 20_000  # unacknowledged data on a cut network gives up too


@dataclass
class TlsLink:
    name: str
    address: TlsAddress
    files: Path  # the server's folder with ca.pem, cert.pem, key.pem
    pinned: str  # SHA256:… of the engine's certificate
    folder: Path  # for the local socket (= services.common.engines.forwarded_socket's folder)
    probe_timeout: int = 5
    status: str = CONNECTING
    error: str = ""
    last_seen: int = 0  # µs
    info: EngineInfo = field(default_factory=EngineInfo)
    connections: int = 0  # TLS connections made to the engine
    _failures: int = 0
    _context: ssl.SSLContext | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _connected: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _warned: str = ""

    @property
    def local_socket(self) -> Path:
        return self.folder / "docker.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.local_socket}"

    @property
    def connected(self) -> bool:
        return self._connected.is_set() and self.local_socket.exists()

    @property
    def context(self) -> ssl.SSLContext:
        if self._context is None:
            ca, cert, key = certs.paths(self.files)
            self._context = tls.client_context(ca=ca, cert=cert, key=key)
        return self._context

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._thread = threading.Thread(target=self._run, name=f"tls-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.local_socket.unlink(missing_ok=True)

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def engine_certificate(self) -> bytes:
        """The certificate (DER) the engine shows now, verified with the stored CA and client
        certificate (add and re-pin pin it); InvalidArgument saying why not."""
        try:
            return tls.fetch_certificate(self.address, self.context)
        except (tls.TlsRefused, OSError) as exc:
            raise InvalidArgument(str(exc)) from exc

    # --- the forwarder ---

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve())
        except Exception as exc:  # noqa: BLE001 (the status says why; nothing listens then)
            logger.error("server %s: the TLS forwarder ended: %s", self.name, type(exc).__name__)
            self.error = (
                f"AppOS cannot reach the engine: its TLS files or local socket failed ({type(exc).__name__})"
            )
        finally:
            loop.close()
            self._connected.clear()

    async def _serve(self) -> None:
        _ = self.context  # the stored files, read once: a server whose files are gone says so
        self.local_socket.unlink(missing_ok=True)
        tasks: set[asyncio.Task[None]] = set()

        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.ensure_future(self._forward(reader, writer))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        server = await asyncio.start_unix_server(accepted, path=str(self.local_socket))
        self.local_socket.chmod(0o600)
        self._connected.set()
        try:
            await asyncio.to_thread(self._stop.wait)
        finally:
            server.close()
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._connect_and_pump(reader, writer)
        finally:
            await _close(writer)

    async def _connect_and_pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = self.address.host, self.address.port
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=self.context, server_hostname=host),
                timeout=tls.CONNECT_SECONDS,
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self._warn(tls.explain(exc, self.address))
            return
        ssl_object = up_writer.get_extra_info("ssl_object")
        seen = certs.fingerprint(ssl_object.getpeercert(binary_form=True) if ssl_object else b"")
        if seen != self.pinned:
            self._warn(tls.changed_message(self.address, seen, self.pinned))
            await _close(up_writer)
            return
        self.connections += 1
        _keepalive(up_writer.get_extra_info("socket"))
        pumps = [
            asyncio.ensure_future(_copy(reader, up_writer)),
            asyncio.ensure_future(_copy(up_reader, writer)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            await _close(up_writer)

    def _warn(self, why: str) -> None:
        if why != self._warned:  # once per new reason, not once per Docker call
            logger.warning("server %s: %s", self.name, why)
            self._warned = why

    # --- probes (as tunnel.py's) ---

    def answering(self, *, wait: float) -> bool:
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
            self._failed(self.diagnose(exc))
            return False
        self._failures, self.status, self.error, self._warned = 0, UP, "", ""
        self.last_seen = int(time.time() * 1_000_000)
        return True

    def diagnose(self, exc: BaseException | None = None) -> str:
        """Why Docker calls through the socket fail, from a handshake made now."""
        try:
            der = tls.fetch_certificate(self.address, self.context, timeout=self.probe_timeout)
        except tls.TlsRefused as refused:
            return str(refused)
        seen = certs.fingerprint(der)
        if seen != self.pinned:
            return tls.changed_message(self.address, seen, self.pinned)
        said = f": {type(exc).__name__}" if exc is not None else ""
        return (
            f"the engine at {self.address.host}:{self.address.port} answers, but not through the socket{said}"
        )

    def _failed(self, error: str) -> None:
        self._failures += 1
        self.error = error
        if self._failures >= DOWN_AFTER:
            self.status = DOWN
        elif self.status != UP:
            self.status = CONNECTING


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ssl.SSLError, asyncio.IncompleteReadError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError, asyncio.TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), timeout=2)


def _keepalive(sock: Any) -> None:
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in KEEPALIVE.items():
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
