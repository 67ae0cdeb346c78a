"""The Docker Engine API calls proxyctl makes (running containers by label, a container's inspect,
the event stream), over the engine's Unix socket with http.client: the Docker SDK would cost this
small process about 2 MiB more at idle. The socket is this machine's engine, or a remote server's
that its SSH connection forwards (services/common/engines.py)."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.common.errors import Unavailable
from services.common.unixhttp import UnixHTTPConnection


class Engine:
    def __init__(self, docker_host: str, timeout: float = 10.0) -> None:
        if not docker_host.startswith("unix://"):
            raise ValueError(f"proxyctl needs the Docker engine's socket (unix://…), not {docker_host!r}")
        self.socket_path = Path(docker_host.removeprefix("unix://"))
        self.timeout = timeout

    def _get(
        self, path: str, params: dict[str, str], timeout: float | None
    ) -> tuple[UnixHTTPConnection, http.client.HTTPResponse]:
        conn = UnixHTTPConnection(self.socket_path, timeout)
        try:
            conn.request("GET", f"{path}?{urllib.parse.urlencode(params)}")
            response = conn.getresponse()
        except OSError as exc:
            conn.close()
            raise Unavailable(f"Docker does not answer on {self.socket_path}: {exc}") from exc
        if response.status != 200:
            body = response.read().decode(errors="replace").strip()
            conn.close()
            raise Unavailable(f"Docker answered {response.status} to {path}: {body}")
        return conn, response

    def containers(self, labels: list[str]) -> list[dict[str, Any]]:
        """The running containers that carry every one of `labels` ("key" or "key=value"), as
        `GET /containers/json` lists them (Labels, Ports, NetworkSettings.Networks)."""
        conn, response = self._get(
            "/containers/json", {"filters": json.dumps({"label": labels})}, self.timeout
        )
        try:
            found: list[dict[str, Any]] = json.loads(response.read())
            return found
        except (OSError, ValueError) as exc:
            raise Unavailable(f"Docker's container list could not be read: {exc}") from exc
        finally:
            conn.close()

    def inspect(self, container_id: str) -> dict[str, Any]:
        """`GET /containers/{id}/json`: among the rest, NetworkSettings.Ports (each container port's
        host bindings, HostIp and HostPort, as Docker published them)."""
        conn, response = self._get(f"/containers/{urllib.parse.quote(container_id)}/json", {}, self.timeout)
        try:
            found: dict[str, Any] = json.loads(response.read())
            return found
        except (OSError, ValueError) as exc:
            raise Unavailable(f"Docker's inspect of {container_id[:12]} could not be read: {exc}") from exc
        finally:
            conn.close()

    def events(self, *, since: int, filters: dict[str, list[str]]) -> EventStream:
        """Docker's events from `since` (epoch seconds) on, as they happen (connected before this
        returns); iterating ends when the engine closes the stream (or `close()` is called from
        another thread), OSError when it goes away."""
        params = {"since": str(since), "filters": json.dumps(filters)}
        conn, response = self._get("/events", params, None)
        return EventStream(conn, response)


class EventStream:
    def __init__(self, conn: UnixHTTPConnection, response: http.client.HTTPResponse) -> None:
        self._conn = conn
        self._response = response

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            while line := self._response.readline():
                yield json.loads(line)
        finally:
            self._conn.close()

    def close(self) -> None:
        """End a read blocked in another thread: it sees the stream's end."""
        sock = self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # closed already
