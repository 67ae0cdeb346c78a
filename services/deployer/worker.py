"""The Celery worker, inside the deployer process (DESIGN's "the deployer (Celery)"): a thread pool of
APPOS_WORKER_CONCURRENCY threads running deployments (`Executor`), backups and notification
deliveries (`notify.tasks`). It shares the deployer's interpreter and modules instead of paying for a
process of its own; a kill -9 of the deployer ends both, and the reconciler takes back a deployment
whose worker vanished (its alive key expires), as it did for a separate worker."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from celery import Celery

from services.common import queues
from services.deployer.backups import Backups
from services.deployer.celery_app import CREATE_BACKUP, QUEUE, RUN_DEPLOYMENT
from services.deployer.executor import Executor
from services.deployer.settings import DeployerSettings
from services.notify import tasks as notify_tasks
from services.notify.delivery import Deliverer

logger = logging.getLogger(__name__)


def register_tasks(app: Celery, *, executor: Executor, backups: Backups, deliver: Deliverer) -> None:
    @app.task(name=RUN_DEPLOYMENT, acks_late=True)  # type: ignore[untyped-decorator]
    def run_deployment(deployment_id: str) -> None:
        executor.run(deployment_id)

    @app.task(name=CREATE_BACKUP, acks_late=True)  # type: ignore[untyped-decorator]
    def create_backup(backup_id: str) -> None:
        backups.creator.make(backup_id)

    @app.task(name=queues.RESTORE_BACKUP, acks_late=True)  # type: ignore[untyped-decorator]
    def restore_backup(restore_id: str) -> None:
        backups.restorer.run(restore_id)

    notify_tasks.register(app, deliver)


class Worker:
    """Celery's WorkController (what `celery worker` runs, without its process-wide signal handlers
    and banner) on a thread of the deployer; the deployer's SIGTERM handler stops it warmly."""

    def __init__(self, app: Celery, settings: DeployerSettings) -> None:
        # What `celery worker` does for its app: a task's own messages (self.retry's next attempt)
        # are sent through the current app, which would otherwise be Celery's default (amqp on
        # localhost) in the pool's threads
        app.set_current()
        app.set_default()
        self.controller: Any = app.WorkController(
            hostname=f"worker@{socket.gethostname()}",
            pool_cls="threads",
            concurrency=settings.worker_concurrency,
            queues=[QUEUE, queues.DEPLOYMENTS, queues.BACKUPS],  # the queues make_backups sends to
            without_gossip=True,
            without_mingle=True,
        )
        self.thread = threading.Thread(target=self._run, name="celery-worker", daemon=True)

    def _run(self) -> None:
        try:
            self.controller.start()
        except Exception:
            logger.exception("the Celery worker stopped")

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float) -> bool:
        """Warm shutdown: stop taking tasks and let the running ones finish, waiting up to `timeout`
        (Celery's own stop waits for them without a limit). False when tasks still run then: the
        caller ends the process, and the reconciler takes those deployments back after the restart."""
        stopper = threading.Thread(
            target=self.controller.stop, kwargs={"in_sighandler": False}, name="celery-stop", daemon=True
        )
        deadline = time.monotonic() + timeout
        stopper.start()
        stopper.join(timeout)
        self.thread.join(max(0.0, deadline - time.monotonic()))
        if stopper.is_alive() or self.thread.is_alive():
            logger.warning("the Celery worker still runs tasks after %.0f s of its warm shutdown", timeout)
            return False
        return True
