"""Keeps each app's status in state as Docker sees it: one event stream (container start/die/health/
destroy) per server's engine — `local`, and each remote server from when it is added (or the
deployer starts) until it is removed — with a sync of that server's apps each time its stream
(re)connects, for what changed while it was not followed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appos.v1 import state_pb2
from services.common import engines
from services.common.errors import AppOSError
from services.common.followers import PerServer, Run
from services.common.labels import PROJECT_LABEL, app_of_project
from services.common.state_client import StateClient

logger = logging.getLogger(__name__)

_ACTIONS = {"start", "die", "stop", "kill", "pause", "unpause", "destroy", "create", "restart", "oom"}


class DockerWatcher:
    def __init__(
        self,
        *,
        state: StateClient,
        docker_factory: Callable[[], Any],
        refresh: Callable[[str], None],
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
        for app in reply.apps:
            if (app.server or engines.LOCAL) == server:
                self._refresh(app.name)

    def _refresh(self, app: str) -> None:
        try:
            self.refresh(app)
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
                self._event(event)
        finally:
            run.forget(client.close)
            client.close()

    def _event(self, event: dict[str, Any]) -> None:
        action = str(event.get("Action", "")).split(":")[0]
        if action not in _ACTIONS and not action.startswith("health_status"):
            return
        project = event.get("Actor", {}).get("Attributes", {}).get(PROJECT_LABEL, "")
        app = app_of_project(project)
        if not app:
            return
        if self.observe is not None:
            self.observe(event)
        self._refresh(app)
