"""The deployer-worker process: Celery with a thread pool (one process, APPOS_WORKER_CONCURRENCY
threads), running deployments through `Executor` and notifications through `notify.tasks`."""

from __future__ import annotations

import os
import socket

from redis import Redis

from services.common.dockerd import docker_client
from services.common.logs import configure_logging
from services.common.state_client import StateClient
from services.deployer.backups import make_backups
from services.deployer.celery_app import CREATE_BACKUP, QUEUE, RUN_DEPLOYMENT, make_celery
from services.deployer.executor import Executor
from services.deployer.settings import DeployerSettings
from services.notify import tasks as notify_tasks


def main() -> None:
    os.umask(0o077)
    settings = DeployerSettings()
    configure_logging("worker", settings.log_level)
    app = make_celery(settings)
    state = StateClient(settings.socket_path("state"), timeout=settings.rpc_timeout_seconds)
    redis = Redis(unix_socket_path=str(settings.socket_path("redis")), socket_timeout=5)
    executor = Executor(
        settings=settings,
        state=state,
        redis=redis,
        docker_factory=lambda: docker_client(settings.docker_host),
        enqueue=lambda deployment_id: app.send_task(RUN_DEPLOYMENT, args=[deployment_id], queue=QUEUE),
    )

    @app.task(name=RUN_DEPLOYMENT, acks_late=True)  # type: ignore[untyped-decorator]
    def run_deployment(deployment_id: str) -> None:
        executor.run(deployment_id)

    backups = make_backups(
        settings=settings,
        state=executor.state,
        redis=executor.redis,
        docker_factory=lambda: docker_client(settings.docker_host),
        celery=app,
    )

    @app.task(name=CREATE_BACKUP, acks_late=True)  # type: ignore[untyped-decorator]
    def create_backup(backup_id: str) -> None:
        backups.make(backup_id)

    notify_tasks.register(app, notify_tasks.deliverer(settings, state, redis))

    app.worker_main(
        [
            "worker",
            "--pool=threads",
            f"--concurrency={settings.worker_concurrency}",
            f"--queues={QUEUE}",
            f"--hostname=worker@{socket.gethostname()}",
            f"--loglevel={settings.log_level}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


if __name__ == "__main__":
    main()
