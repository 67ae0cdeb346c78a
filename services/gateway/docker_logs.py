"""An app's container logs, read by the gateway straight from the Docker engine's API on its event
loop (httpx over the engine's socket). A log follow is one HTTP stream to the engine per container:
no thread in any service, no `docker compose` process.

It shows what `docker compose logs` shows: every container of the app's Compose project (or of one
service), stopped ones included, the last `tail` lines of each, merged in time order. Following, it
also reads containers that start meanwhile (a restart, a recreated or scaled service) and ends, as
Compose does, once none of them runs any more.

Lines are asked for with timestamps, which order them, let a restarted container be read from just
after the last line sent, and tell the engine's two framings apart: a container without a TTY
answers multiplexed frames (8-byte headers whose first byte is the stream, 0-2), one with a TTY raw
text (whose first byte is then a timestamp's digit).
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import json
import logging
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.common.errors import Unavailable
from services.common.labels import NUMBER_LABEL, PROJECT_LABEL, SERVICE_LABEL, is_oneoff, project_name
from services.deployer.compose import clean_line

logger = logging.getLogger(__name__)
if TYPE_CHECKING:
    import httpx

logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request to the engine: noise

# Batches of lines a follow holds for a slow client before the engine's streams wait.
QUEUE_BATCHES = 64

Stamped = tuple[bytes, str]  # (RFC 3339 timestamp, text)


@dataclass(frozen=True)
class Line:
    service: str
    text: str
    # Docker's RFC 3339 timestamp of the line (b"" when it gave none)
    stamp: bytes = b""


@dataclass(frozen=True)
class Container:
    id: str
    service: str
    running: bool


def sort_key(stamp: bytes) -> tuple[bytes, bytes]:
    """An RFC 3339 timestamp, comparable whatever number of fraction digits it has."""
    whole, _, fraction = stamp.rstrip(b"Z").partition(b".")
    return whole, fraction.ljust(9, b"0")


def stamp_ns(stamp: bytes) -> int | None:
    """A log timestamp as Unix nanoseconds; None when it is not one."""
    try:
        whole, fraction = sort_key(stamp)
        seconds = calendar.timegm(time.strptime(whole.decode(), "%Y-%m-%dT%H:%M:%S"))
        return seconds * 1_000_000_000 + int(fraction[:9] or b"0")
    except (ValueError, UnicodeDecodeError):
        return None


def since_after(stamp: bytes) -> str:
    """Docker's `since` (Unix seconds with nanoseconds) one nanosecond after a log timestamp."""
    whole, fraction = sort_key(stamp)
    seconds = calendar.timegm(time.strptime(whole.decode(), "%Y-%m-%dT%H:%M:%S"))
    nanos = seconds * 1_000_000_000 + int(fraction[:9]) + 1
    return f"{nanos // 1_000_000_000}.{nanos % 1_000_000_000:09d}"


def _lines(chunk: bytes) -> list[Stamped]:
    out = []
    for piece in chunk.split(b"\n"):
        if piece:
            stamp, _, text = piece.partition(b" ")
            out.append((stamp, clean_line(text)))
    return out


class Decoder:
    """One container's log stream → (timestamp, text) per line, in either framing."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._raw: bool | None = None

    def feed(self, data: bytes) -> list[Stamped]:
        self._buffer += data
        if self._raw is None and self._buffer:
            self._raw = self._buffer[0] > 2
        if self._raw:
            cut = self._buffer.rfind(b"\n") + 1
            text = bytes(self._buffer[:cut])
            del self._buffer[:cut]
            return _lines(text)
        out: list[Stamped] = []
        while len(self._buffer) >= 8:
            (size,) = struct.unpack(">I", self._buffer[4:8])
            if len(self._buffer) < 8 + size:
                break
            out.extend(_lines(bytes(self._buffer[8 : 8 + size])))
            del self._buffer[: 8 + size]
        return out

    def flush(self) -> list[Stamped]:
        """What is left when the stream ends (a TTY's last line without a newline)."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return _lines(rest) if self._raw else []


def _transport(docker_host: str) -> tuple[httpx.AsyncHTTPTransport, str]:
    import httpx

    if docker_host.startswith("unix://"):
        return httpx.AsyncHTTPTransport(uds=docker_host.removeprefix("unix://")), "http://docker"
    if docker_host.startswith("tcp://"):
        return httpx.AsyncHTTPTransport(), "http://" + docker_host.removeprefix("tcp://")
    raise ValueError(f"unsupported Docker host {docker_host!r} (unix:// or tcp://)")


class DockerLogs:
    def __init__(self, docker_host: str, *, timeout: float = 10.0) -> None:
        if not docker_host.startswith(("unix://", "tcp://")):
            raise ValueError(f"unsupported Docker host {docker_host!r} (unix:// or tcp://)")
        self.docker_host = docker_host
        self.timeout = timeout
        self._http: httpx.AsyncClient | None = None

    @property
    def _client(self) -> httpx.AsyncClient:
        """Made on the first log request: httpx (which also loads its CLI's rich and pygments when
        they are installed) costs the idle gateway ~5 MiB it does not need until someone reads logs."""
        if self._http is None:
            import httpx

            transport, base_url = _transport(self.docker_host)
            # How many streams there are is bounded per user by the gateway (open_streams.py).
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=10)
            self._http = httpx.AsyncClient(
                transport=transport, base_url=base_url, timeout=self.timeout, limits=limits
            )
        return self._http

    @property
    def _streaming(self) -> httpx.Timeout:
        import httpx

        return httpx.Timeout(self.timeout, read=None)  # a followed log may stay quiet for hours

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    @staticmethod
    def _filters(app: str, service: str) -> dict[str, list[str]]:
        labels = [f"{PROJECT_LABEL}={project_name(app)}"]
        if service:
            labels.append(f"{SERVICE_LABEL}={service}")
        return {"label": labels}

    async def containers(self, app: str, service: str = "") -> list[Container]:
        """The app's containers (or one service's), stopped ones too, in Compose's order."""
        import httpx

        params = {"all": "1", "filters": json.dumps(self._filters(app, service))}
        try:
            response = await self._client.get("/containers/json", params=params)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise Unavailable("Docker did not answer; try again shortly") from exc
        found: list[tuple[str, int, dict[str, Any]]] = []
        for item in response.json():
            labels = item.get("Labels") or {}
            if not is_oneoff(labels):
                found.append((labels.get(SERVICE_LABEL, ""), int(labels.get(NUMBER_LABEL) or 0), item))
        found.sort(key=lambda entry: (entry[0], entry[1]))
        return [Container(id=i["Id"], service=s, running=i.get("State") == "running") for s, _, i in found]

    async def stream(
        self, container: Container, *, follow: bool, tail: str, since: str = ""
    ) -> AsyncIterator[list[Stamped]]:
        """One container's log lines in batches (as they arrive); a container whose log cannot be
        read says so in one line."""
        params = {"stdout": "1", "stderr": "1", "timestamps": "1", "tail": tail}
        if follow:
            params["follow"] = "1"
        if since:
            params["since"] = since
        import httpx

        decoder = Decoder()
        path = f"/containers/{container.id}/logs"
        try:
            async with self._client.stream("GET", path, params=params, timeout=self._streaming) as response:
                if response.status_code == 404:
                    return  # removed meanwhile
                if response.status_code != 200:
                    body = (await response.aread()).decode(errors="replace")
                    with contextlib.suppress(ValueError, AttributeError):
                        body = str(json.loads(body).get("message", body))
                    yield [(b"", f"(no logs from this container: {body.strip()})")]
                    return
                async for data in response.aiter_raw():
                    if lines := decoder.feed(data):
                        yield lines
        except httpx.HTTPError as exc:
            logger.info("log of container %s ended: %s", container.id[:12], type(exc).__name__)
        if rest := decoder.flush():
            yield rest

    async def starts(
        self, app: str, service: str, opened: asyncio.Event
    ) -> AsyncIterator[tuple[str, str, int]]:
        """(container id, service, start time in ns) of each container of the selection that
        starts from now on. `opened` is set once the engine listens (or could not be asked)."""
        import httpx

        filters = {"type": ["container"], "event": ["start"], **self._filters(app, service)}
        params = {"filters": json.dumps(filters)}
        try:
            async with self._client.stream(
                "GET", "/events", params=params, timeout=self._streaming
            ) as response:
                opened.set()
                buffer = b""
                async for data in response.aiter_raw():
                    *complete, buffer = (buffer + data).split(b"\n")
                    for raw in complete:
                        event = json.loads(raw) if raw.strip() else {}
                        actor = event.get("Actor") or {}
                        labels = actor.get("Attributes") or {}
                        if actor and not is_oneoff(labels):
                            started = int(event.get("timeNano") or 0)
                            yield str(actor.get("ID", "")), str(labels.get(SERVICE_LABEL, "")), started
        except (httpx.HTTPError, ValueError) as exc:
            logger.info("docker events for app %s ended: %s", app, type(exc).__name__)
        finally:
            opened.set()

    async def tail(self, *, app: str, service: str, tail: int) -> list[Line]:
        """The last `tail` lines of each container, merged in time order."""

        async def read(container: Container) -> list[tuple[bytes, str, str]]:
            return [
                (stamp, container.service, text)
                async for batch in self.stream(container, follow=False, tail=str(tail))
                for stamp, text in batch
            ]

        per_container = await asyncio.gather(*(read(c) for c in await self.containers(app, service)))
        merged = sorted((line for lines in per_container for line in lines), key=lambda e: sort_key(e[0]))
        return [Line(service=service_, text=text, stamp=stamp) for stamp, service_, text in merged]

    async def follow(self, *, app: str, service: str, tail: int) -> AsyncIterator[list[Line]]:
        """Each container's last `tail` lines, then new ones as they come, in batches; ends when no
        container of the selection runs any more."""
        async for batch in _Follow(self, app=app, service=service).run(tail):
            yield batch


class _Ended:
    def __init__(self, container_id: str) -> None:
        self.container_id = container_id


class _Follow:
    """One follow: a reader task per followed container feeding one bounded queue (a slow client
    slows the engine's streams rather than filling memory), and a watch of container starts."""

    def __init__(self, logs: DockerLogs, *, app: str, service: str) -> None:
        self._logs = logs
        self._app, self._service = app, service
        self._queue: asyncio.Queue[list[Line] | _Ended] = asyncio.Queue(maxsize=QUEUE_BATCHES)
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._known: dict[str, Container] = {}
        self._attached_ns: dict[str, int] = {}
        self._last: dict[str, bytes] = {}  # the newest timestamp sent, by container
        self._again: set[str] = set()  # started again while its old stream was still being read

    def _attach(self, container: Container, tail: str) -> None:
        """Read a container: from `tail` lines back, or just after the last line already sent."""
        if container.id in self._readers:
            return
        self._known[container.id] = container
        last = self._last.get(container.id)
        since = since_after(last) if last else ""
        self._attached_ns[container.id] = time.time_ns()
        self._readers[container.id] = asyncio.create_task(
            self._read(container, tail="all" if since else tail, since=since)
        )

    async def _read(self, container: Container, *, tail: str, since: str) -> None:
        try:
            async for batch in self._logs.stream(container, follow=True, tail=tail, since=since):
                if batch[-1][0]:
                    self._last[container.id] = batch[-1][0]
                lines = [Line(service=container.service, text=text, stamp=stamp) for stamp, text in batch]
                await self._queue.put(lines)
        except Exception:  # noqa: BLE001 - this container's log ends; the follow goes on
            logger.exception("reading the log of container %s failed", container.id[:12])
        await self._queue.put(_Ended(container.id))

    async def _watch(self, opened: asyncio.Event) -> None:
        async for container_id, service, started_ns in self._logs.starts(self._app, self._service, opened):
            if container_id not in self._readers:
                self._attach(Container(id=container_id, service=service, running=True), "all")
            elif started_ns > self._attached_ns[container_id]:
                self._again.add(container_id)  # a restart whose old stream has not ended yet

    async def run(self, tail: int) -> AsyncIterator[list[Line]]:
        opened = asyncio.Event()
        watch = asyncio.create_task(self._watch(opened))
        try:
            with contextlib.suppress(TimeoutError):  # the watch listens first: no start goes unseen
                await asyncio.wait_for(opened.wait(), self._logs.timeout)
            for container in await self._logs.containers(self._app, self._service):
                self._attach(container, str(tail))
            while self._readers:
                item = await self._queue.get()
                if not isinstance(item, _Ended):
                    yield item
                    continue
                del self._readers[item.container_id]
                if item.container_id in self._again:
                    self._again.discard(item.container_id)
                    self._attach(self._known[item.container_id], "all")
                if not self._readers:
                    # the last stream ended: go on only with a container that started meanwhile (its
                    # start event is on its way); one that ended while running (a log driver that
                    # cannot be read) is not read again and again
                    for container in await self._logs.containers(self._app, self._service):
                        if container.running and container.id not in self._known:
                            self._attach(container, "all")
        finally:
            tasks = [watch, *self._readers.values()]
            for task in tasks:
                task.cancel()
            for task in tasks:
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                except Exception:  # noqa: BLE001 - the follow is ending anyway
                    logger.debug("a log reader ended with an error", exc_info=True)
