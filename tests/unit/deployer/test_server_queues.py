"""A deployments queue per server (issue 21): where a deployment is queued, and the worker's node per
remote server, against a real redis-server and real Celery controllers (threads, as in the deployer):
a server's node is added while the worker runs and consumes that server's deployments only, a task
held on one server does not delay another's, a removed server's node stops. The reconciler re-queues
on the app's server's queue (the real State servicer on a Unix socket). A server that is down is not
waited for."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from redis import Redis

from appos.v1 import state_pb2, state_pb2_grpc
from services.common import queues
from services.common.grpc_server import build_server
from services.common.state_client import StateClient
from services.deployer.celery_app import make_celery, send_deployment
from services.deployer.reconciler import Reconciler
from services.deployer.servers.address import SshAddress
from services.deployer.servers.tunnel import CONNECTING, DOWN, Tunnel
from services.deployer.settings import DeployerSettings
from services.deployer.worker import Worker, node_name
from services.state.db import make_engine, migrate
from services.state.servicer import StateServicer
from services.state.store import Store
from tests.harness import RedisServer, wait_for


def test_each_server_has_its_own_deployments_queue() -> None:
    assert queues.deployments_of("local") == queues.deployments_of("") == "appos.deployments"
    assert queues.deployments_of("far") == "appos.deployments.far"
    assert node_name(queues.deployments_of("far")).startswith("deployments.far@")


@pytest.fixture
def broker(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[DeployerSettings, Redis]]:
    """Settings whose Celery apps use the test's redis-server (flushed before and after)."""
    settings = DeployerSettings(data=tmp_path / "data", port=0, grpc_port=0)
    redis = Redis.from_url(redis_server.url)
    redis.flushdb()
    yield settings, redis
    redis.flushdb()
    redis.close()


def _celery(settings: DeployerSettings, redis_server: RedisServer) -> Celery:
    app = make_celery(settings)
    app.conf.broker_url = redis_server.url
    return app


def test_a_deployment_is_queued_on_its_servers_queue(
    broker: tuple[DeployerSettings, Redis], redis_server: RedisServer
) -> None:
    settings, redis = broker
    celery = _celery(settings, redis_server)
    send_deployment(celery, "d-local", "local")
    send_deployment(celery, "d-far", "far")
    send_deployment(celery, "d-far-2", "far")
    assert redis.llen("appos.deployments") == 1
    assert redis.llen("appos.deployments.far") == 2
    celery.close()


class _Ran:
    """The deployments the worker ran, each with the queue it came from (each node consumes one);
    a deployment named `hold-…` waits for `release`."""

    def __init__(self) -> None:
        self.by_queue: dict[str, str] = {}
        self.release = threading.Event()
        self.holding = threading.Event()
        self._lock = threading.Lock()

    def register(self, app: Celery) -> None:
        @app.task(name=queues.RUN_DEPLOYMENT, bind=True, shared=False)
        def run_deployment(task: Any, deployment_id: str) -> None:
            if deployment_id.startswith("hold"):
                self.holding.set()
                assert self.release.wait(60)
            with self._lock:
                self.by_queue[deployment_id] = str(task.request.delivery_info["routing_key"])

    def queue_of(self, deployment_id: str) -> str | None:
        with self._lock:
            return self.by_queue.get(deployment_id)


def test_the_worker_consumes_each_servers_queue_with_its_own_threads(
    broker: tuple[DeployerSettings, Redis], redis_server: RedisServer
) -> None:
    settings, redis = broker
    ran, told = _Ran(), list[set[str]]()
    worker = Worker(
        make_app=lambda: _celery(settings, redis_server),
        register=ran.register,
        concurrency={queues.DEPLOYMENTS: 1},
        per_server=1,
        on_servers=told.append,
    )
    celery = _celery(settings, redis_server)
    worker.serve_servers({"far"})  # a server stored before the start: its node starts with the others
    worker.start()
    try:
        # a server added while the worker runs
        worker.serve_servers({"far", "near"})
        assert told[-1] == {"appos.deployments.far", "appos.deployments.near"}
        nodes = {
            node_name(q) for q in ("appos.deployments", "appos.deployments.far", "appos.deployments.near")
        }
        assert len(worker.controllers) == 3

        def answered() -> bool:
            replies = celery.control.ping(timeout=1.0, limit=3)
            return nodes <= {node for reply in replies for node in reply} and nodes == worker.nodes

        wait_for(answered, timeout=30, what="every node to answer a ping")

        # far's one thread is held: near's and local's deployments run all the same
        send_deployment(celery, "hold-far", "far")
        assert ran.holding.wait(30)
        send_deployment(celery, "far-2", "far")
        for deployment_id, server in (("near-1", "near"), ("local-1", "local")):
            send_deployment(celery, deployment_id, server)
        wait_for(lambda: ran.queue_of("near-1") and ran.queue_of("local-1"), timeout=30, what="the others")
        assert ran.queue_of("near-1") == "appos.deployments.near"
        assert ran.queue_of("local-1") == "appos.deployments"
        assert ran.queue_of("far-2") is None  # behind the held one, on far's queue only
        ran.release.set()
        wait_for(lambda: ran.queue_of("far-2"), timeout=30, what="far's second deployment")
        assert ran.queue_of("hold-far") == ran.queue_of("far-2") == "appos.deployments.far"

        # far removed: its node stops, and what is queued for it stays queued
        worker.serve_servers({"near"})
        assert told[-1] == {"appos.deployments.near"}
        assert len(worker.controllers) == 2 and node_name("appos.deployments.far") not in worker.nodes

        def far_gone() -> bool:
            replies = celery.control.ping(timeout=1.0, limit=3)
            return node_name("appos.deployments.far") not in {node for reply in replies for node in reply}

        wait_for(far_gone, timeout=30, what="far's node to stop")
        send_deployment(celery, "far-3", "far")
        send_deployment(celery, "near-2", "near")
        wait_for(lambda: ran.queue_of("near-2"), timeout=30, what="near's deployment")
        assert ran.queue_of("far-3") is None and redis.llen("appos.deployments.far") == 1
    finally:
        ran.release.set()
        assert worker.stop(timeout=20)
        celery.close()


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateClient]:
    engine = make_engine(tmp_path / "appos.db")
    migrate(engine)
    socket = tmp_path / "state.sock"
    name = state_pb2.DESCRIPTOR.services_by_name["State"].full_name
    server, _ = build_server(
        socket_path=socket,
        services=[
            (
                state_pb2_grpc.add_StateServicer_to_server,
                StateServicer(Store(engine), hash_key=b"k" * 32),
                name,
            )
        ],
    )
    server.start()
    client = StateClient(socket)
    yield client
    client.close()
    server.stop(None)
    engine.dispose()


def test_the_reconciler_queues_a_deployment_again_on_its_servers_queue(
    state: StateClient, broker: tuple[DeployerSettings, Redis]
) -> None:
    settings, redis = broker
    state.stub.CreateServer(
        state_pb2.StateServer(
            name="far", address="ssh://root@10.0.0.1:22", docker_socket="/var/run/docker.sock",
            known_hosts="10.0.0.1 ssh-ed25519 AAAA", fingerprint="SHA256:x", actor="ada",
        )
    )  # fmt: skip
    running = []
    for app, server in (("blog", "far"), ("wiki", "")):
        created = state.stub.CreateApp(
            state_pb2.StateCreateAppRequest(name=app, server=server, compose="services: {}\n", actor="ada")
        )
        running.append(
            state.stub.TransitionDeployment(
                state_pb2.StateTransitionDeploymentRequest(
                    id=created.deployment.id, from_statuses=["pending"], to_status="running", new_attempt=True
                )
            )
        )
    queued: list[tuple[str, str]] = []
    settings = settings.model_copy(update={"heartbeat_ttl_seconds": 0})  # no worker says it is alive
    Reconciler(
        settings=settings, state=state, redis=redis, enqueue=lambda d, s: queued.append((d, s))
    ).run_once()
    assert sorted(queued) == sorted([(running[0].id, "far"), (running[1].id, "local")])


def _tunnel(tmp_path: Path, status: str) -> Tunnel:
    return Tunnel(
        name="far", address=SshAddress(user="root", host="10.0.0.1", port=22),
        remote_socket="/var/run/docker.sock", key=tmp_path / "key", known_hosts=tmp_path / "known_hosts",
        folder=tmp_path, status=status,
        error="10.0.0.1:22 cannot be reached (timed out)",
    )  # fmt: skip


def test_a_server_that_is_down_is_not_waited_for(tmp_path: Path) -> None:
    down, answers = _tunnel(tmp_path, DOWN), []
    asking = threading.Thread(target=lambda: answers.append(down.answering(wait=3600)), daemon=True)
    asking.start()
    asking.join(60)
    assert answers == [False]  # at once, not after the hour a connecting server would get
    connecting = _tunnel(tmp_path, CONNECTING)
    assert not connecting.answering(wait=0.05)  # waited for, briefly, and still not connected
