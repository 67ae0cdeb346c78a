"""The deployer process: Catalog/Apps/Deployments/Notifications over gRPC, the Celery workers that run
deployments, backups and deliveries (`worker.py`, one per queue and one per remote server's
deployments, on threads of this process), the servers' SSH connections and probes, the
Docker watcher, the reconciler, the notification dispatcher, and the workers' health (a Celery ping
every few seconds)."""

from __future__ import annotations

import functools
import logging
import os
import threading

from grpc_health.v1 import health_pb2
from redis import Redis
from redis.exceptions import RedisError

from appos.v1 import (
    apps_pb2,
    apps_pb2_grpc,
    backups_internal_pb2,
    backups_internal_pb2_grpc,
    backups_pb2,
    backups_pb2_grpc,
    notifications_pb2,
    notifications_pb2_grpc,
    servers_pb2,
    servers_pb2_grpc,
    state_pb2,
    stores_pb2,
    stores_pb2_grpc,
    updates_pb2,
    updates_pb2_grpc,
)
from services.common.dockerd import docker_client
from services.common.grpc_server import build_server, serve_until_signalled
from services.common.logs import configure_logging
from services.common.periodic import every
from services.common.queues import CHECK_UPDATES, QUEUE_OF, SERVER_QUEUES
from services.common.state_client import StateClient
from services.deployer.backup_servicer import BackupImportsServicer, BackupsServicer
from services.deployer.backups import make_backups
from services.deployer.backups.internal import Internal
from services.deployer.catalog import Catalog
from services.deployer.celery_app import make_celery, send_deployment
from services.deployer.executor import Executor
from services.deployer.reconciler import Reconciler
from services.deployer.servers.manager import Servers
from services.deployer.servers.servicer import ServersServicer
from services.deployer.servicer import AppsServicer, CatalogServicer, DeploymentsServicer, port_holders
from services.deployer.settings import DeployerSettings
from services.deployer.stores.manager import Stores, refreshed_event
from services.deployer.stores.servicer import StoresServicer
from services.deployer.update_servicer import UpdatesServicer
from services.deployer.updates.logins import RegistryLogins
from services.deployer.updates.queue import CheckQueue
from services.deployer.updates.schedule import UpdateSchedule
from services.deployer.watcher import DockerWatcher
from services.deployer.worker import Worker, register_tasks
from services.notify import tasks as notify_tasks
from services.notify.dispatcher import Dispatcher
from services.notify.servicer import NotificationsServicer
from services.notify.settings import NotifySettings
from services.notify.unhealthy import UnhealthyReporter

logger = logging.getLogger(__name__)

WORKER_HEALTH = "appos.worker"
# Running deployments get this long to finish on SIGTERM; past it the process ends at once (well
# within supervisord's stopwaitsecs, 20) and the reconciler takes them back after the restart.
WORKER_STOP_SECONDS = 10.0
_SERVICES = apps_pb2.DESCRIPTOR.services_by_name


def main() -> None:
    os.umask(0o077)
    settings = DeployerSettings()
    notify_settings = NotifySettings()
    configure_logging("deployer", settings.log_level)
    settings.apps_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    state = StateClient(settings.socket_path("state"), timeout=settings.rpc_timeout_seconds)
    redis = Redis(unix_socket_path=str(settings.socket_path("redis")), socket_timeout=5)
    celery = make_celery(settings)
    catalog = Catalog.load(settings.template_dirs())
    stores = Stores(settings, catalog, on_refreshed=refreshed_event(state))
    stores.load_all()

    def enqueue(deployment_id: str, server: str) -> None:
        send_deployment(celery, deployment_id, server)

    def send_update_check(actor: str, origin: str, job: str) -> None:
        celery.send_task(CHECK_UPDATES, args=[actor, origin, job], queue=QUEUE_OF[CHECK_UPDATES])

    check_queue = CheckQueue(redis=redis, send=send_update_check)

    def check_updates(actor: str, origin: str, job: str) -> object:
        # here, not at start: the check imports httpx (~several MiB an idle deployer would keep)
        from services.deployer.updates import job as check_job
        from services.deployer.updates.registry import RegistryClient

        def check() -> list[state_pb2.StateAppUpdateCheck]:
            lookup = registry_logins.lookup()  # one read of the stored logins per check
            return check_job.check_apps(state=state, make_client=lambda: RegistryClient(credentials=lookup))

        checks = check_queue.run(job, check)  # joined by requests until it returns
        if checks is None:
            return None
        return check_job.record(state=state, checks=checks, actor=actor, origin=origin, job=job)

    def set_flag(key: str) -> None:
        redis.set(key, "1", ex=3600)

    def publish_server_queues(names: set[str]) -> None:
        """The per-server queues consumed now, for the gateway's metrics."""
        try:
            with redis.pipeline() as pipe:
                pipe.delete(SERVER_QUEUES)
                if names:
                    pipe.sadd(SERVER_QUEUES, *sorted(names))
                pipe.execute()
        except RedisError as exc:
            logger.warning("could not record the per-server queues (%s): %s", sorted(names), exc)

    docker_factory = lambda: docker_client(settings.docker_host)  # noqa: E731
    servers = Servers(settings, state)
    executor = Executor(
        settings=settings, state=state, redis=redis, docker_factory=docker_factory, enqueue=enqueue,
        servers=servers,
    )  # fmt: skip
    backups = make_backups(
        settings=settings, state=state, redis=redis, docker_factory=docker_factory, celery=celery
    )
    registry_logins = RegistryLogins(Internal(settings))
    worker = Worker(
        make_app=lambda: make_celery(settings),
        register=functools.partial(
            register_tasks,
            executor=executor,
            backups=backups,
            deliver=notify_tasks.deliverer(notify_settings, state, redis),
            check_updates=check_updates,
        ),
        concurrency=settings.worker_concurrency(),
        per_server=settings.worker_concurrency_per_server,
        on_servers=publish_server_queues,
    )
    socket_path = settings.socket_path("deployer")
    apps_servicer = AppsServicer(
        settings=settings, catalog=catalog, state=state, enqueue=enqueue,
        docker_factory=docker_factory, backups=backups, servers=servers,
    )  # fmt: skip
    catalog_servicer = CatalogServicer(catalog, functools.partial(port_holders, settings, docker_factory))
    server, health = build_server(
        socket_path=socket_path,
        services=[
            (apps_pb2_grpc.add_CatalogServicer_to_server, catalog_servicer, _SERVICES["Catalog"].full_name),
            (
                servers_pb2_grpc.add_ServersServicer_to_server,
                ServersServicer(servers),
                servers_pb2.DESCRIPTOR.services_by_name["Servers"].full_name,
            ),
            (
                stores_pb2_grpc.add_StoresServicer_to_server,
                StoresServicer(stores, catalog, suggest_ports=catalog_servicer.suggest_ports),
                stores_pb2.DESCRIPTOR.services_by_name["Stores"].full_name,
            ),
            (apps_pb2_grpc.add_AppsServicer_to_server, apps_servicer, _SERVICES["Apps"].full_name),
            (
                apps_pb2_grpc.add_DeploymentsServicer_to_server,
                DeploymentsServicer(state=state, redis_set=set_flag),
                _SERVICES["Deployments"].full_name,
            ),
            (
                backups_pb2_grpc.add_BackupsServicer_to_server,
                BackupsServicer(backups),
                backups_pb2.DESCRIPTOR.services_by_name["Backups"].full_name,
            ),
            (
                backups_internal_pb2_grpc.add_BackupImportsServicer_to_server,
                BackupImportsServicer(backups),
                backups_internal_pb2.DESCRIPTOR.services_by_name["BackupImports"].full_name,
            ),
            (
                notifications_pb2_grpc.add_NotificationsServicer_to_server,
                NotificationsServicer(state=state, test_timeout_seconds=notify_settings.timeout_seconds),
                notifications_pb2.DESCRIPTOR.services_by_name["Notifications"].full_name,
            ),
            (
                updates_pb2_grpc.add_UpdatesServicer_to_server,
                UpdatesServicer(
                    state=state,
                    checks=check_queue,
                    versions=apps_servicer.versions,
                    logins=registry_logins,
                ),
                updates_pb2.DESCRIPTOR.services_by_name["Updates"].full_name,
            ),
        ],
    )
    health.set(WORKER_HEALTH, health_pb2.HealthCheckResponse.NOT_SERVING)

    def ping_worker() -> None:
        """Serving while every queue's worker answers (each server's too, once it has started)."""
        required = worker.nodes
        replies = celery.control.ping(timeout=1.0, limit=len(worker.controllers))
        answered = {node for reply in replies for node in reply}
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if required <= answered
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        health.set(WORKER_HEALTH, status)

    stop = threading.Event()
    reconciler = Reconciler(settings=settings, state=state, redis=redis, enqueue=enqueue)
    unhealthy = UnhealthyReporter(state=state, redis=redis, quiet_seconds=notify_settings.quiet_seconds)
    watcher = DockerWatcher(
        state=state, docker_factory=docker_factory, sockets=settings.sockets,
        refresh=executor.refresh_app, observe=unhealthy.observe,
    )  # fmt: skip

    def servers_changed(names: set[str]) -> None:
        """From a server's add (or the start) to its removal:"""
        worker.serve_servers(names)  # a deployments queue per server, consumed
        watcher.watch_servers(names)  # its engine's container events, followed

    servers.on_change = servers_changed
    dispatcher = Dispatcher(
        state=state, state_socket=settings.socket_path("state"), enqueue=notify_tasks.enqueuer(celery)
    )
    every(3.0, stop, ping_worker, "worker-ping")
    every(settings.reconcile_interval_seconds, stop, reconciler.run_once, "reconciler")
    every(settings.backup_schedule_check_seconds, stop, backups.schedule.tick, "backup-schedule")
    every(settings.reconcile_interval_seconds, stop, backups.restorer.reconcile, "restore-reconciler")
    update_schedule = UpdateSchedule(
        schedule=settings.update_check_schedule,
        state=state,
        enqueue=lambda actor, origin: check_queue.request(actor=actor, origin=origin),
    )
    every(settings.backup_schedule_check_seconds, stop, update_schedule.tick, "update-schedule")
    servers.start()
    every(settings.server_probe_seconds, stop, servers.probe_all, "server-probe")
    watcher.start()
    dispatcher.start()
    worker.start()

    worker_done = threading.Event()

    def on_stop() -> None:
        stop.set()
        servers.stop()
        watcher.stop()
        dispatcher.stop()
        if worker.stop(timeout=WORKER_STOP_SECONDS):
            worker_done.set()

    serve_until_signalled(server, socket_path=socket_path, on_stop=on_stop)
    state.close()
    if not worker_done.is_set():
        # the pool's threads are not daemons: the interpreter would wait for their tasks at exit
        logging.shutdown()
        os._exit(0)


if __name__ == "__main__":
    main()
