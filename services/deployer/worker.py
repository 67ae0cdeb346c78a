"""The Celery worker, inside the deployer process (DESIGN's "the deployer (Celery)"): one Celery
`WorkController` per queue (`services/common/queues.py`), each with a thread pool of its own size
(APPOS_WORKER_CONCURRENCY_DEPLOYMENTS, _BACKUPS, _NOTIFICATIONS), so a failure notification never waits
behind a long backup and a backup never holds up a deployment. They run deployments (`Executor`),
backups and notification deliveries (`notify.tasks`), sharing the deployer's interpreter and modules
instead of paying for processes of their own; a kill -9 of the deployer ends them all, and the
reconciler takes back a deployment whose worker vanished (its alive key expires).

Celery has no concurrency per queue inside one worker (celery/celery#1599: "run separate workers for
each queue"), so there is one controller per queue. Two details make several of them live in one
process: the queues a controller consumes are kept on its app (`app.amqp.queues.select`), so each has
an app of its own; and kombu keeps one "current" event loop per process, which a new controller
adopts, so it is cleared before each is built and every controller gets a hub of its own."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from celery import Celery
from kombu.asynchronous import set_event_loop

from services.common import queues
from services.deployer.backups import Backups
from services.deployer.executor import Executor
from services.notify import tasks as notify_tasks
from services.notify.delivery import Deliverer

logger = logging.getLogger(__name__)


def register_tasks(
    app: Celery,
    *,
    executor: Executor,
    backups: Backups,
    deliver: Deliverer,
    check_updates: Callable[[str, str, str], object],
) -> None:
    """The tasks on `app` alone (`shared=False`: Celery would otherwise add them to every app)."""

    @app.task(name=queues.RUN_DEPLOYMENT, acks_late=True, shared=False)  # type: ignore[untyped-decorator]
    def run_deployment(deployment_id: str) -> None:
        executor.run(deployment_id)

    @app.task(name=queues.CREATE_BACKUP, acks_late=True, shared=False)  # type: ignore[untyped-decorator]
    def create_backup(backup_id: str) -> None:
        backups.creator.make(backup_id)

    @app.task(name=queues.RESTORE_BACKUP, acks_late=True, shared=False)  # type: ignore[untyped-decorator]
    def restore_backup(restore_id: str) -> None:
        backups.restorer.run(restore_id)

    @app.task(name=queues.CHECK_UPDATES, acks_late=True, shared=False)  # type: ignore[untyped-decorator]
    def check_image_updates(actor: str, origin: str, job: str = "") -> None:
        check_updates(actor, origin, job)  # `job`: its CheckQueue id ("" in a message queued before ids)

    notify_tasks.register(app, deliver)


def node_name(queue: str) -> str:
    """The Celery node that consumes `queue` (remote control addresses it): `deployments@<host>`."""
    return f"{queue.removeprefix('appos.')}@{socket.gethostname()}"


class Worker:
    """The controllers (what `celery worker` runs, without its process-wide signal handlers and
    banner), each on a thread of the deployer; the deployer's SIGTERM handler stops them warmly."""

    def __init__(
        self,
        *,
        make_app: Callable[[], Celery],
        register: Callable[[Celery], None],
        concurrency: Mapping[str, int],
    ) -> None:
        self.controllers: dict[str, Any] = {}
        for queue, threads in concurrency.items():
            app = make_app()
            register(app)  # every app knows every task: a message is run by whichever consumes it
            set_event_loop(None)
            self.controllers[queue] = app.WorkController(
                hostname=node_name(queue),
                pool_cls="threads",
                concurrency=threads,
                queues=[queue],
                without_gossip=True,
                without_mingle=True,
            )
        # What `celery worker` does for its app: a task's own messages are sent through the current
        # app, which would otherwise be Celery's default (amqp on localhost) in the pools' threads.
        # The apps are alike (same broker, routes and tasks): the first serves.
        first = next(iter(self.controllers.values())).app
        first.set_current()
        first.set_default()
        self.threads = [
            threading.Thread(target=self._run, args=(queue, controller), name=f"celery-{queue}", daemon=True)
            for queue, controller in self.controllers.items()
        ]

    @property
    def nodes(self) -> set[str]:
        return {node_name(queue) for queue in self.controllers}

    @staticmethod
    def _run(queue: str, controller: Any) -> None:
        try:
            controller.start()
        except Exception:
            logger.exception("the Celery worker of %s stopped", queue)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, timeout: float) -> bool:
        """Warm shutdown of every controller at once: stop taking tasks and let the running ones
        finish, waiting up to `timeout` in all (Celery's own stop waits for them without a limit).
        False when tasks still run then: the caller ends the process, and the reconciler takes those
        deployments back after the restart."""
        stoppers = [
            threading.Thread(
                target=controller.stop,
                kwargs={"in_sighandler": False},
                name=f"celery-stop-{queue}",
                daemon=True,
            )
            for queue, controller in self.controllers.items()
        ]
        deadline = time.monotonic() + timeout
        for stopper in stoppers:
            stopper.start()
        for thread in [*stoppers, *self.threads]:
            thread.join(max(0.0, deadline - time.monotonic()))
        running = [
            queue
            for queue, stopper, thread in zip(self.controllers, stoppers, self.threads, strict=True)
            if stopper.is_alive() or thread.is_alive()
        ]
        for queue in running:
            logger.warning(
                "the Celery worker of %s still runs tasks after %.0f s of its warm shutdown", queue, timeout
            )
        if running:
            return False
        return True
