"""A loopback HTTP proxy in front of a test registry (`tests/registry.py`), so a test can make the
registry go away at a moment it chooses, not only before it starts:

    with RegistryProxy(registry.host) as proxy:
        image = proxy.image("appos-test/web", "1.1.0")   # pulled through the proxy
        proxy.hold_blobs()                   # the next blob GETs wait (hold_manifests: manifests)…
        …start a pull…
        proxy.arrived.wait(60)               # …and this says the first one arrived
        proxy.release()                      # they go on; or:
        proxy.go_away()                      # held requests are cut, new connections refused
        proxy.come_back()                    # same port, forwarding again

A thread of the test process forwards each request (GET/HEAD only: images are pushed to the registry
itself, and the same content is then pulled by the proxy's name) with http.client, streaming the
reply. "Gone" is what a stopped registry looks like to a client: a request in flight loses its
connection without a reply, and the port refuses connections. Nothing here sleeps: the test waits
on `arrived`, which the first held request sets."""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

_BLOB = re.compile(r"^/v2/.+/blobs/sha256:[0-9a-f]{64}$")
_MANIFEST = re.compile(r"^/v2/.+/manifests/[^/]+$")
_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade",
}  # fmt: skip
_CHUNK = 64 * 1024


class RegistryProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream  # host:port of the registry
        self.requests: list[tuple[str, str]] = []  # (method, path) of each request forwarded or held
        self.arrived = threading.Event()  # set by the first request held since hold_…()
        self._held: Callable[[str, str], bool] | None = None  # (method, path) → hold it?
        self._gone = False
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server = self._listen(0)
        self.port = int(self._server.server_address[1])

    # what a test sees
    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def image(self, repository: str, tag: str) -> str:
        return f"{self.host}/{repository}:{tag}"

    # what a test does
    def hold_blobs(self) -> None:
        """From now on a blob GET (a pull's config and layers) waits, after setting `arrived`, until
        `go_away` or `release`."""
        self._hold(lambda method, path: method == "GET" and bool(_BLOB.match(path)))

    def hold_manifests(self) -> None:
        """From now on a manifest HEAD or GET (what an update check asks first) waits, as above."""
        self._hold(lambda method, path: method in ("GET", "HEAD") and bool(_MANIFEST.match(path)))

    def _hold(self, held: Callable[[str, str], bool]) -> None:
        with self._lock:
            self._held = held
            self._release.clear()
            self.arrived.clear()

    def release(self) -> None:
        """Held requests go on to the registry, and new ones are no longer held."""
        with self._lock:
            self._held = None
        self._release.set()

    def go_away(self) -> None:
        """As if the registry stopped: held requests lose their connection, every request on an open
        connection too, and the port refuses new connections."""
        with self._lock:
            self._gone = True
            self._held = None
        self._release.set()
        self._stop_listening()

    def come_back(self) -> None:
        """Listening again on the same port, forwarding every request."""
        with self._lock:
            self._gone = False
        self._server = self._listen(self.port)

    def close(self) -> None:
        with self._lock:
            self._gone = True
        self._release.set()
        self._stop_listening()

    def __enter__(self) -> RegistryProxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # the server
    def _listen(self, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="registry-proxy", daemon=True).start()
        return server

    def _stop_listening(self) -> None:
        server = self._server
        server.shutdown()
        server.server_close()

    def _admit(self, method: str, path: str) -> bool:
        """Record the request; False when it must be cut (gone now, or gone while it was held)."""
        with self._lock:
            if self._gone:
                return False
            self.requests.append((method, path))
            held = self._held is not None and self._held(method, path)
            if held:
                self.arrived.set()
        if held:
            self._release.wait()
            with self._lock:
                return not self._gone
        return True


def _cut(connection: socket.socket) -> None:
    """Drop the client's connection with a reset, as a process that died would."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def _handler(proxy: RegistryProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the engine's client expects of a registry

        def do_HEAD(self) -> None:  # noqa: N802 (http.server's name)
            self._forward()

        def do_GET(self) -> None:  # noqa: N802
            self._forward()

        def _forward(self) -> None:
            if not proxy._admit(self.command, self.path):
                self.close_connection = True
                _cut(self.connection)
                return
            upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
            try:
                upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for key, value in self.headers.items():  # every one: the engine sends Accept several times
                    if key.lower() not in _HOP_BY_HOP:
                        upstream.putheader(key, value)
                upstream.endheaders()
                reply = upstream.getresponse()
                self._answer(reply)
            except OSError:
                self.close_connection = True
                _cut(self.connection)
            finally:
                upstream.close()

        def _answer(self, reply: http.client.HTTPResponse) -> None:
            length = reply.getheader("Content-Length")
            body = b"" if length is not None or self.command == "HEAD" else reply.read()
            self.send_response(reply.status, reply.reason)
            for key, value in reply.getheaders():
                if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", length if length is not None else str(len(body)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if length is None:
                self.wfile.write(body)
                return
            while chunk := reply.read(_CHUNK):
                self.wfile.write(chunk)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test reads `requests`

    return Handler
