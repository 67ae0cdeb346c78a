"""The Celery worker, inside the deployer process (DESIGN's "the deployer (Celery)"): one Celery
`WorkController` per queue (`services/common/queues.py`), each with a thread pool of its own size
(APPOS_WORKER_CONCURRENCY_DEPLOYMENTS, _BACKUPS, _NOTIFICATIONS), so a failure notification never waits
behind a long backup and a backup never holds up a deployment; and one per remote server
(APPOS_WORKER_CONCURRENCY_PER_SERVER), consuming that server's deployments only (issue 21), so a slow
or unreachable server never delays another's deployments. They run deployments (`Executor`),
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
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from celery import Celery
from celery.exceptions import WorkerShutdown
from kombu.asynchronous import set_event_loop

from services.common import engines, queues
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
    """The Celery node that consumes `queue` (remote control addresses it): `deployments@<host>`, and
    `deployments.<server>@<host>` for a remote server's deployments."""
    return f"{queue.removeprefix('appos.')}@{socket.gethostname()}"


# A node added while the worker runs must answer pings once its consumer is ready, or after this long
# at the latest (one that never gets ready is then reported by the worker's health).
READY_GRACE_SECONDS = 30.0


class Worker:
    """The controllers (what `celery worker` runs, without its process-wide signal handlers and
    banner), each on a thread of the deployer; the deployer's SIGTERM handler stops them warmly.

    Besides one controller per kind of job, one per remote server consumes that server's deployments
    (`queues.deployments_of`) with threads of its own (APPOS_WORKER_CONCURRENCY_PER_SERVER), so a
    slow or unreachable server holds up only its own deployments: `serve_servers` adds a controller
    for a server that was added and stops the one of a server that was removed. Building a
    controller while the others run is safe for the same reasons building several at start is (its
    own app, the current event loop cleared first, under a lock)."""

    def __init__(
        self,
        *,
        make_app: Callable[[], Celery],
        register: Callable[[Celery], None],
        concurrency: Mapping[str, int],
        per_server: int = 2,
        on_servers: Callable[[set[str]], None] | None = None,
    ) -> None:
        self._make_app, self._register = make_app, register
        self._per_server = per_server
        self._on_servers = on_servers  # told the per-server queues consumed now
        self._lock = threading.Lock()
        self._started = self._stopped = False
        self.controllers: dict[str, Any] = {}
        self.threads: dict[str, threading.Thread] = {}
        self._ready: dict[str, threading.Event] = {}
        self._added_at: dict[str, float] = {}  # queues added after start → when
        for queue, threads in concurrency.items():
            self._add(queue, threads)
        # What `celery worker` does for its app: a task's own messages are sent through the current
        # app, which would otherwise be Celery's default (amqp on localhost) in the pools' threads.
        # The apps are alike (same broker, routes and tasks): the first serves.
        first = next(iter(self.controllers.values())).app
        first.set_current()
        first.set_default()

    def _add(self, queue: str, threads: int) -> None:
        """A controller for `queue` (the caller holds the lock, or nothing runs yet)."""
        app = self._make_app()
        self._register(app)  # every app knows every task: a message is run by whichever consumes it
        ready = self._ready[queue] = threading.Event()
        set_event_loop(None)
        self.controllers[queue] = app.WorkController(
            hostname=node_name(queue),
            pool_cls="threads",
            concurrency=threads,
            queues=[queue],
            without_gossip=True,
            without_mingle=True,
            ready_callback=lambda _consumer: ready.set(),
        )
        self.threads[queue] = threading.Thread(
            target=self._run, args=(queue, self.controllers[queue]), name=f"celery-{queue}", daemon=True
        )

    @property
    def nodes(self) -> set[str]:
        """The nodes that must answer a ping: every one, except one added at run time that is still
        starting (for up to READY_GRACE_SECONDS)."""
        now = time.monotonic()
        with self._lock:
            return {
                node_name(queue)
                for queue in self.controllers
                if queue not in self._added_at
                or self._ready[queue].is_set()
                or now - self._added_at[queue] > READY_GRACE_SECONDS
            }

    def _server_queues(self) -> set[str]:
        return {queue for queue in self.controllers if queue.startswith(f"{queues.DEPLOYMENTS}.")}

    @staticmethod
    def _run(queue: str, controller: Any) -> None:
        try:
            controller.start()
        except Exception:
            logger.exception("the Celery worker of %s stopped", queue)

    def start(self) -> None:
        with self._lock:
            self._started = True
            for thread in self.threads.values():
                thread.start()

    def serve_servers(self, servers: Iterable[str]) -> None:
        """Consume the deployments queue of each remote server in `servers`, and no other server's."""
        wanted = {queues.deployments_of(server) for server in servers if engines.is_remote(server)}
        with self._lock:
            if self._stopped:
                return
            current = self._server_queues()
            for queue in sorted(wanted - current):
                self._add(queue, self._per_server)
                if self._started:
                    self._added_at[queue] = time.monotonic()
                    self.threads[queue].start()
                logger.info("consuming %s with %d threads", queue, self._per_server)
            for queue in sorted(current - wanted):
                controller, thread = self.controllers.pop(queue), self.threads.pop(queue)
                ready = self._ready.pop(queue)
                self._added_at.pop(queue, None)
                if thread.is_alive():
                    threading.Thread(
                        target=self._cancel, args=(queue, controller, ready), name=f"celery-stop-{queue}",
                        daemon=True,
                    ).start()  # fmt: skip
            if self._on_servers is not None:
                self._on_servers(wanted)  # in the lock: told in the order the changes were made

    @staticmethod
    def _cancel(queue: str, controller: Any, ready: threading.Event) -> None:
        """Warm shutdown of a server's controller (its server was removed: nothing of it is queued),
        as Celery's remote `shutdown` command does it: WorkerShutdown raised in the controller's own
        event loop, which then stops taking tasks, lets the running ones end and returns. (`stop()`
        from another thread closes the broker's channels under the loop that iterates them: kombu's
        "Set changed size during iteration".) Celery ignores a stop before the controller runs, so
        this waits for it to be ready first."""
        if not ready.wait(READY_GRACE_SECONDS):
            logger.warning("the Celery worker of %s never started; not stopping it", queue)
            return

        def shut_down() -> None:
            raise WorkerShutdown(0)

        controller.hub.call_soon(shut_down)
        logger.info("stopping consuming %s", queue)

    def stop(self, timeout: float) -> bool:
        """Warm shutdown of every controller at once: stop taking tasks and let the running ones
        finish, waiting up to `timeout` in all (Celery's own stop waits for them without a limit).
        False when tasks still run then: the caller ends the process, and the reconciler takes those
        deployments back after the restart."""
        with self._lock:
            self._stopped = True  # no controller is added from now on
            controllers, threads = dict(self.controllers), dict(self.threads)
        stoppers = {
            queue: threading.Thread(
                target=controller.stop,
                kwargs={"in_sighandler": False},
                name=f"celery-stop-{queue}",
                daemon=True,
            )
            for queue, controller in controllers.items()
            if threads[queue].is_alive()
        }
        deadline = time.monotonic() + timeout
        for stopper in stoppers.values():
            stopper.start()
        for thread in [*stoppers.values(), *threads.values()]:
            if thread.ident is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        running = [
            queue
            for queue, thread in threads.items()
            if thread.is_alive() or (queue in stoppers and stoppers[queue].is_alive())
        ]
        for queue in running:
            logger.warning(
                "the Celery worker of %s still runs tasks after %.0f s of its warm shutdown", queue, timeout
            )
        return not running
