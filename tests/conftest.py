"""Session fixtures with real parts. The controller process makes sure a Docker engine answers
(starting dockerd when none does, and stopping only the one it started); every xdist worker then
starts its own AppOS stack in a temp folder."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.dockerd import docker_answers, ensure_docker
from tests.harness import ADDRESS_POOLS, RedisServer, Stack, start_redis, start_stack, stop_pid_process

_started_dockerd: subprocess.Popen[bytes] | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _started_dockerd
    if hasattr(config, "workerinput"):
        return  # xdist worker: the controller did it
    _started_dockerd = ensure_docker(Path("/tmp/appos-test-dockerd.log"), args=ADDRESS_POOLS)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _started_dockerd is not None:
        stop_pid_process(_started_dockerd)


@pytest.fixture(scope="session")
def docker_engine() -> None:
    assert docker_answers(), "no Docker engine answers on /var/run/docker.sock"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    """The shared stack. Tests must not break it: ones that kill parts or exhaust limits use
    `fresh_stack`."""
    # Failed logins are limited per client address, and every test here comes from 127.0.0.1: the
    # shared stack allows many, so one test's wrong passwords cannot lock another out; it also lets
    # one user hold many open streams (100 event clients share a token). Both limits are tested on
    # stacks of their own with the defaults.
    running = start_stack(
        tmp_path_factory.mktemp("stack"),
        extra_env={"APPOS_LOGIN_MAX_FAILURES": "1000", "APPOS_STREAMS_PER_USER": "1000"},
    )
    yield running
    running.stop()


@pytest.fixture
def fresh_stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("fresh"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def admin_token(stack: Stack) -> str:
    return stack.login()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    stop_pid_process(server.proc)


@pytest.fixture(scope="session")
def busybox_image(docker_engine: None) -> str:
    """The FROM-scratch busybox image the test templates run (built once per worker; cheap when cached)."""
    from tests.harness import build_busybox_image, docker_client

    client = docker_client()
    try:
        return build_busybox_image(client)
    finally:
        client.close()
