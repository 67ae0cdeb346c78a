"""The deployer process: Catalog/Apps/Deployments over gRPC, the Docker watcher, the reconciler,
and the worker's health (a Celery ping every few seconds)."""

from __future__ import annotations

import logging
import os
import threading

from grpc_health.v1 import health_pb2
from redis import Redis

from appos.v1 import apps_pb2, apps_pb2_grpc
from services.common.dockerd import docker_client
from services.common.grpc_server import build_server, serve_until_signalled
from services.common.logs import configure_logging
from services.common.periodic import every
from services.common.state_client import StateClient
from services.deployer.catalog import Catalog
from services.deployer.celery_app import QUEUE, RUN_DEPLOYMENT, make_celery
from services.deployer.executor import Executor
from services.deployer.reconciler import Reconciler
from services.deployer.servicer import AppsServicer, CatalogServicer, DeploymentsServicer
from services.deployer.settings import DeployerSettings
from services.deployer.watcher import DockerWatcher

logger = logging.getLogger(__name__)

WORKER_HEALTH = "appos.worker"
_SERVICES = apps_pb2.DESCRIPTOR.services_by_name


def main() -> None:
    os.umask(0o077)
    settings = DeployerSettings()
    configure_logging("deployer", settings.log_level)
    settings.apps_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    state = StateClient(settings.socket_path("state"), timeout=settings.rpc_timeout_seconds)
    redis = Redis(unix_socket_path=str(settings.socket_path("redis")), socket_timeout=5)
    celery = make_celery(settings)
    catalog = Catalog.load(settings.template_dirs())

    def enqueue(deployment_id: str) -> None:
        celery.send_task(RUN_DEPLOYMENT, args=[deployment_id], queue=QUEUE)

    def set_flag(key: str) -> None:
        redis.set(key, "1", ex=3600)

    docker_factory = lambda: docker_client(settings.docker_host)  # noqa: E731
    executor = Executor(
        settings=settings, state=state, redis=redis, docker_factory=docker_factory, enqueue=enqueue
    )
    socket_path = settings.socket_path("deployer")
    server, health = build_server(
        socket_path=socket_path,
        services=[
            (
                apps_pb2_grpc.add_CatalogServicer_to_server,
                CatalogServicer(catalog),
                _SERVICES["Catalog"].full_name,
            ),
            (
                apps_pb2_grpc.add_AppsServicer_to_server,
                AppsServicer(settings=settings, catalog=catalog, state=state, enqueue=enqueue),
                _SERVICES["Apps"].full_name,
            ),
            (
                apps_pb2_grpc.add_DeploymentsServicer_to_server,
                DeploymentsServicer(state=state, redis_set=set_flag),
                _SERVICES["Deployments"].full_name,
            ),
        ],
    )
    health.set(WORKER_HEALTH, health_pb2.HealthCheckResponse.NOT_SERVING)

    def ping_worker() -> None:
        replies = celery.control.ping(timeout=1.0)
        status = (
            health_pb2.HealthCheckResponse.SERVING if replies else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        health.set(WORKER_HEALTH, status)

    stop = threading.Event()
    reconciler = Reconciler(settings=settings, state=state, redis=redis, enqueue=enqueue)
    watcher = DockerWatcher(state=state, docker_factory=docker_factory, refresh=executor.refresh_app)
    every(3.0, stop, ping_worker, "worker-ping")
    every(settings.reconcile_interval_seconds, stop, reconciler.run_once, "reconciler")
    watcher.start()

    def on_stop() -> None:
        stop.set()
        watcher.stop()

    serve_until_signalled(server, socket_path=socket_path, on_stop=on_stop)
    state.close()


if __name__ == "__main__":
    main()
