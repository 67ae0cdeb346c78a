"""Follows Docker's container start/die events: when a container of an app with a domain starts or
stops, the Caddy config is built again, because Compose gives a recreated container a new address
(redeploy, restart, rollback) and a stopped app's domain should say so. Reconnects when the engine
goes away, and re-applies on every (re)connect for what changed meanwhile."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from services.common.errors import AppOSError
from services.common.labels import PROJECT_LABEL, app_of_project

if TYPE_CHECKING:
    from services.proxyctl.servicer import Proxy

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0


class ContainerWatcher:
    def __init__(self, *, proxy: Proxy, stop: threading.Event) -> None:
        self.proxy = proxy
        self.stop = stop
        self._backoff = 1.0

    def start(self) -> None:
        threading.Thread(target=self._run, name="container-watcher", daemon=True).start()

    def _apply(self, job: Callable[[], None], what: str) -> None:
        try:
            job()
        except AppOSError as exc:  # Caddy or state not answering yet: the caddy keeper applies later
            logger.warning("could not re-apply the proxy config after %s: %s", what, exc.message)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self._follow()
            except Exception:  # noqa: BLE001 - the engine went away (or restarted): follow it again
                logger.warning(
                    "docker events stream ended; reconnecting in %.0fs", self._backoff, exc_info=True
                )
            self.stop.wait(self._backoff)
            self._backoff = min(self._backoff * 2, MAX_BACKOFF_SECONDS)

    def _follow(self) -> None:
        since = int(time.time())  # events from here on are replayed: none is lost while applying
        events = self.proxy.engine.events(
            since=since, filters={"type": ["container"], "event": ["start", "die"], "label": [PROJECT_LABEL]}
        )
        self._backoff = 1.0
        self._apply(self.proxy.reapply, "connecting to Docker")
        for event in events:
            if self.stop.is_set():
                return
            actor = event.get("Actor") or {}
            app = app_of_project(str((actor.get("Attributes") or {}).get(PROJECT_LABEL, "")))
            if app:
                action = str(event.get("Action", ""))
                stopped = str(actor.get("ID", "")) if action == "die" else ""
                job = functools.partial(self.proxy.reapply_for, app, stopped=stopped)
                self._apply(job, f"a container of {app} had a {action} event")
