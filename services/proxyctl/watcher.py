"""Follows Docker's container start/die events: when a container of an app with a domain starts or
stops, the Caddy config is built again, because Compose gives a recreated container a new address
(redeploy, restart, rollback) — on a remote server, maybe a new published port — and a stopped
app's domain should say so. One stream for this machine's engine, and one for each remote server
whose apps have domains (the proxy tells which at each config load). Reconnects when an engine
goes away, and re-applies on every (re)connect for what changed meanwhile."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from services.common import engines
from services.common.errors import AppOSError
from services.common.followers import PerServer, Run
from services.common.labels import PROJECT_LABEL, app_of_project
from services.proxyctl import remote
from services.proxyctl.engine import Engine

if TYPE_CHECKING:
    from services.proxyctl.servicer import Proxy

logger = logging.getLogger(__name__)

FILTERS = {"type": ["container"], "event": ["start", "die"], "label": [PROJECT_LABEL]}


class ContainerWatcher:
    def __init__(self, *, proxy: Proxy, stop: threading.Event) -> None:
        self.proxy = proxy
        self.stop = stop
        self.streams = PerServer(follow=self._follow, what="container-watcher")

    def start(self) -> None:
        self.streams.watch(engines.LOCAL)

    def watch_servers(self, servers: set[str]) -> None:
        """Follow this machine's engine and exactly these remote servers'."""
        self.streams.keep({engines.LOCAL, *servers})

    def _apply(self, job: Callable[[], None], what: str) -> None:
        try:
            job()
        except AppOSError as exc:  # Caddy or state not answering yet: the caddy keeper applies later
            logger.warning("could not re-apply the proxy config after %s: %s", what, exc.message)

    def _engine(self, server: str) -> Engine:
        if not engines.is_remote(server):
            return self.proxy.engine
        return remote.engine_for(self.proxy.settings.sockets, server)

    def _follow(self, run: Run) -> None:
        if self.stop.is_set():  # the process is ending
            self.streams.stop()
            return
        since = int(time.time())  # events from here on are replayed: none is lost while applying
        events = self._engine(run.server).events(since=since, filters=FILTERS)
        run.on_stop(events.close)
        run.connected()
        self._apply(self.proxy.reapply, f"connecting to Docker ({run.server})")
        for event in events:
            if run.stop.is_set():
                return
            actor = event.get("Actor") or {}
            app = app_of_project(str((actor.get("Attributes") or {}).get(PROJECT_LABEL, "")))
            if app:
                action = str(event.get("Action", ""))
                stopped = str(actor.get("ID", "")) if action == "die" else ""
                job = functools.partial(self.proxy.reapply_for, app, stopped=stopped)
                self._apply(job, f"a container of {app} had a {action} event")
