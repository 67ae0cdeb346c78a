"""Keeps each app's status in state as Docker sees it: a full sync at start, then Docker's event
stream (container start/die/health/destroy), reconnecting when the engine goes away."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from appos.v1 import state_pb2
from services.common.errors import AppOSError
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
        observe: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.state = state
        self.docker_factory = docker_factory
        self.refresh = refresh
        # sees every container event of an app first (notifications: `notify.unhealthy`)
        self.observe = observe
        self._stop = threading.Event()
        self._client: Any = None

    def start(self) -> None:
        threading.Thread(target=self._run, name="docker-watcher", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._client is not None:
            self._client.close()

    def sync_all(self) -> None:
        reply = self.state.stub.ListApps(state_pb2.StateListAppsRequest())
        for app in reply.apps:
            self._refresh(app.name)

    def _refresh(self, app: str) -> None:
        try:
            self.refresh(app)
        except AppOSError as exc:
            logger.warning("could not refresh %s: %s", app, exc.message)

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                self._client = self.docker_factory()
                since = int(time.time())
                self.sync_all()
                backoff = 1.0
                for event in self._client.events(
                    decode=True, since=since, filters={"type": "container", "label": PROJECT_LABEL}
                ):
                    if self._stop.is_set():
                        return
                    action = str(event.get("Action", "")).split(":")[0]
                    if action not in _ACTIONS and not action.startswith("health_status"):
                        continue
                    project = event.get("Actor", {}).get("Attributes", {}).get(PROJECT_LABEL, "")
                    app = app_of_project(project)
                    if app and self.observe is not None:
                        self.observe(event)
                    if app:
                        self._refresh(app)
            except Exception:  # noqa: BLE001 - the engine went away; try again
                if self._stop.is_set():
                    return
                logger.warning("docker events stream ended; reconnecting in %.0fs", backoff, exc_info=True)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
