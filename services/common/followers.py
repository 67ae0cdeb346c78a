"""One thread per server following something on its engine (Docker's event stream), started and
stopped as servers come and go. A follow that ends or fails is made again with backoff (1 s doubling
to 30 s, back to 1 s once it connected); stopping one closes what it registered (its stream), so a
blocked read ends at once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0


class Run:
    """One server's follower, as its `follow` function sees it."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.stop = threading.Event()
        self.backoff = 1.0
        self._closers: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def connected(self) -> None:
        """The stream is open: the next failure waits from 1 s again."""
        self.backoff = 1.0

    def on_stop(self, close: Callable[[], None]) -> None:
        """`close` is called when the follower is stopped (at once, if it already is)."""
        with self._lock:
            if not self.stop.is_set():
                self._closers.append(close)
                return
        close()

    def forget(self, close: Callable[[], None]) -> None:
        with self._lock:
            if close in self._closers:
                self._closers.remove(close)

    def end(self) -> None:
        with self._lock:
            self.stop.set()
            closers, self._closers = self._closers, []
        for close in closers:
            try:
                close()
            except Exception:  # noqa: BLE001 - closing a stream that broke already
                logger.debug("closing %s's stream failed", self.server, exc_info=True)


class PerServer:
    """`follow(run)` for each watched server, each in its own thread, until unwatched or stopped."""

    def __init__(self, *, follow: Callable[[Run], None], what: str) -> None:
        self._follow = follow
        self._what = what
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def servers(self) -> set[str]:
        with self._lock:
            return set(self._runs)

    def watch(self, server: str) -> None:
        """Start following `server` (nothing when it is followed already)."""
        with self._lock:
            if server in self._runs:
                return
            run = self._runs[server] = Run(server)
        threading.Thread(target=self._loop, args=(run,), name=f"{self._what}-{server}", daemon=True).start()

    def unwatch(self, server: str) -> None:
        with self._lock:
            run = self._runs.pop(server, None)
        if run is not None:
            run.end()

    def keep(self, servers: Iterable[str]) -> None:
        """Follow exactly `servers`."""
        wanted = set(servers)
        for gone in self.servers() - wanted:
            self.unwatch(gone)
        for server in wanted:
            self.watch(server)

    def stop(self) -> None:
        for server in self.servers():
            self.unwatch(server)

    def _loop(self, run: Run) -> None:
        while not run.stop.is_set():
            try:
                self._follow(run)
            except Exception:  # noqa: BLE001 - the engine went away (or restarted): follow it again
                if run.stop.is_set():
                    return
                logger.warning(
                    "%s: the stream of server %s ended; reconnecting in %.0fs",
                    self._what,
                    run.server,
                    run.backoff,
                    exc_info=True,
                )
            run.stop.wait(run.backoff)
            run.backoff = min(run.backoff * 2, MAX_BACKOFF_SECONDS)
