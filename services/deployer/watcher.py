"""Keeps each app's status in state as Docker sees it: one event stream (container start/die/health/
destroy) per server's engine — `local`, and each remote server from when it is added (or the
deployer starts) until it is removed — with a sync of that server's apps each time its stream
(re)connects, for what changed while it was not followed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appos.v1 import state_pb2
from services.common import engines
from services.common.errors import AppOSError, NotFound
from services.common.followers import PerServer, Run
from services.common.labels import PROJECT_LABEL, app_of_project
from services.common.state_client import StateClient
from services.deployer import engine

logger = logging.getLogger(__name__)

_ACTIONS = {"start", "die", "stop", "kill", "pause", "unpause", "destroy", "create", "restart", "oom"}


class DockerWatcher:
    def __init__(
        self,
        *,
        state: StateClient,
        docker_factory: Callable[[], Any],
        refresh: Callable[[str, str], None],  # (app, its server)
        sockets: Path | None = None,
        observe: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.state = state
        self.docker_factory = docker_factory  # the local engine's
        self.sockets = sockets  # where remote servers' engines are forwarded (engines.py)
        self.refresh = refresh
        # sees every container event of an app first (notifications: `notify.unhealthy`)
        self.observe = observe
        self.streams = PerServer(follow=self._follow, what="docker-watcher")
        # server → the apps state says run there (from each sync, and from lookups since): an event
        # of one of them refreshes it from that server's engine with no question to state
        self._apps_on: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self.streams.watch(engines.LOCAL)

    def stop(self) -> None:
        self.streams.stop()

    def watch_servers(self, names: set[str]) -> None:
        """Follow `local` and exactly these remote servers (the deployer's Servers tell their names
        whenever one comes or goes: `Servers.on_change`)."""
        self.streams.keep({engines.LOCAL, *names})

    def sync(self, server: str) -> None:
        """Refresh every app that runs on `server`."""
        reply = self.state.stub.ListApps(state_pb2.StateListAppsRequest())
        names = [app.name for app in reply.apps if (app.server or engines.LOCAL) == server]
        with self._lock:
            self._apps_on[server] = set(names)
        for name in names:
            self._refresh(name, server)

    def _server_of(self, app: str, server: str, *, destroyed: bool) -> str:
        """The server `app` runs on, for an event of its container on `server`'s engine: `server`
        when state said so before; asked of state otherwise ("" for an app it does not know), and
        after a container's destroy (the app may be gone, and come back on another server)."""
        with self._lock:
            known = app in self._apps_on.get(server, set())
            if destroyed:
                self._apps_on.get(server, set()).discard(app)
        if known and not destroyed:
            return server
        try:
            found = engine.server_of(self.state, app)
        except NotFound:
            return ""
        if found == server and not destroyed:
            with self._lock:
                self._apps_on.setdefault(server, set()).add(app)
        return found

    def _refresh(self, app: str, server: str) -> None:
        try:
            self.refresh(app, server)
        except AppOSError as exc:
            logger.warning("could not refresh %s: %s", app, exc.message)

    def _factory(self, server: str) -> Callable[[], Any]:
        if not engines.is_remote(server):
            return self.docker_factory
        if self.sockets is None:
            raise RuntimeError("the watcher was built without the servers' sockets")
        return engines.factory_for(server, sockets=self.sockets, local=self.docker_factory)

    def _follow(self, run: Run) -> None:
        client = self._factory(run.server)()
        run.on_stop(client.close)  # ends a read blocked on the stream
        try:
            since = int(time.time())  # events from here on are replayed: none is lost while syncing
            events = client.events(
                decode=True, since=since, filters={"type": "container", "label": PROJECT_LABEL}
            )
            run.connected()
            self.sync(run.server)
            for event in events:
                if run.stop.is_set():
                    return
                self._event(event, run.server)
        finally:
            run.forget(client.close)
            client.close()

    def _event(self, event: dict[str, Any], server: str) -> None:
        """A container event of `server`'s engine: the app it belongs to is refreshed from there."""
        action = str(event.get("Action", "")).split(":")[0]
        if action not in _ACTIONS and not action.startswith("health_status"):
            return
        project = event.get("Actor", {}).get("Attributes", {}).get(PROJECT_LABEL, "")
        app = app_of_project(project)
        if not app:
            return
        if self.observe is not None:
            self.observe(event)
        runs_on = self._server_of(app, server, destroyed=action == "destroy")
        if runs_on:
            self._refresh(app, runs_on)
