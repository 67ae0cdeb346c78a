"""App stats from Docker's stats documents (fake containers; the real engine is in
tests/integration/test_app_stats.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import requests
from docker.errors import APIError, DockerException, NotFound

from services.common.errors import Unavailable
from services.deployer.stats import cpu_percent, memory_used, sample_app


def doc(total: int, system: int, *, cpus: int = 2, usage: int = 0, **memory: int) -> dict[str, Any]:
    return {
        "cpu_stats": {"cpu_usage": {"total_usage": total}, "system_cpu_usage": system, "online_cpus": cpus},
        "precpu_stats": {},
        "memory_stats": {"usage": usage, "limit": 1 << 30, "stats": memory},
    }


def test_cpu_percent_is_the_share_of_one_cpu() -> None:
    # used 0.5 s of CPU while the host's 2 CPUs ran 2 s in all: half a CPU busy = 50 %
    assert cpu_percent(doc(1_000, 10_000), doc(501_000, 2_010_000)) == pytest.approx(50.0)
    # two full CPUs
    assert cpu_percent(doc(0, 0), doc(2_000, 2_000)) == pytest.approx(200.0)


def test_cpu_percent_without_a_usable_interval_is_zero() -> None:
    assert cpu_percent({}, doc(5, 5)) == pytest.approx(100.0 * 2)  # an empty `before` counts from zero
    assert cpu_percent(doc(5, 5), doc(5, 5)) == 0.0  # no time passed
    assert cpu_percent(doc(9, 5), doc(5, 9)) == 0.0  # a counter went back (container restarted)
    assert cpu_percent({}, {}) == 0.0


def test_cpu_count_falls_back_to_percpu_usage() -> None:
    after = {
        "cpu_stats": {
            "cpu_usage": {"total_usage": 100, "percpu_usage": [1, 1, 1, 1]},
            "system_cpu_usage": 400,
        }
    }
    assert cpu_percent({}, after) == pytest.approx(100.0)


def test_memory_leaves_out_the_inactive_page_cache() -> None:
    assert memory_used(doc(0, 0, usage=10_000, inactive_file=4_000)) == 6_000  # cgroup v2
    assert memory_used(doc(0, 0, usage=10_000, total_inactive_file=3_000)) == 7_000  # cgroup v1
    assert memory_used(doc(0, 0, usage=10_000, inactive_file=20_000)) == 10_000  # nonsense: keep usage
    assert memory_used({"memory_stats": {}}) == 0


class FakeContainer:
    def __init__(
        self, name: str, service: str, state: str, docs: list[dict[str, Any] | Exception] | None
    ) -> None:
        self.id = name
        self.labels = {"com.docker.compose.service": service}
        self.attrs = {
            "Name": f"/{name}",
            "Config": {"Labels": self.labels},
            "State": {"Status": state, "ExitCode": 0},
            "NetworkSettings": {"Ports": {}},
        }
        self.docs = docs
        self.calls: list[dict[str, Any]] = []

    def stats(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.docs is None:
            raise NotFound("gone")
        answer = self.docs.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeClient:
    def __init__(self, containers: list[FakeContainer]) -> None:
        self.containers = self
        self.found = containers
        self.filters: dict[str, str] = {}
        self.closed = False

    def list(
        self, *, all: bool, filters: dict[str, str], ignore_removed: bool = False
    ) -> list[FakeContainer]:
        assert all
        self.filters = filters
        return self.found

    def close(self) -> None:
        self.closed = True


def test_sample_app_takes_two_one_shot_samples_of_running_containers() -> None:
    web = FakeContainer(
        "appos-a-web-1", "web", "running", [doc(0, 0, usage=100), doc(1_000, 4_000, usage=5_000)]
    )
    db = FakeContainer("appos-a-db-1", "db", "exited", None)
    client = FakeClient([web, db])
    slept: list[float] = []
    usage = sample_app(lambda: client, "a", interval=0.25, sleep=slept.append)
    assert client.filters == {"label": "com.docker.compose.project=appos-a"} and client.closed
    assert slept == [0.25]
    assert web.calls == [{"stream": False, "one_shot": True}] * 2
    assert db.calls == []  # a stopped container is not asked
    assert [(c.service, c.state) for c in usage.containers] == [("db", "exited"), ("web", "running")]
    assert usage.containers[0].memory_bytes == 0 and usage.containers[0].cpu_percent == 0.0
    assert usage.containers[1].cpu_percent == pytest.approx(50.0)
    assert usage.containers[1].memory_bytes == 5_000 and usage.containers[1].memory_limit_bytes == 1 << 30
    reply = usage.to_pb()
    assert reply.app == "a" and reply.sampled_at.seconds > 0 and len(reply.containers) == 2


def test_a_container_that_vanishes_is_reported_gone_without_usage() -> None:
    gone = FakeContainer("appos-a-web-1", "web", "running", None)
    slept: list[float] = []
    usage = sample_app(lambda: FakeClient([gone]), "a", sleep=slept.append)
    assert slept == []  # nothing to compare: no wait
    assert [(c.state, c.memory_bytes) for c in usage.containers] == [("gone", 0)]


@pytest.mark.parametrize(
    "failure",
    [
        requests.JSONDecodeError("Expecting value", "", 0),  # the engine closed an empty body
        APIError(
            "removal in progress",
            response=SimpleNamespace(
                status_code=409, reason="Conflict", url="http://docker/containers/x/stats"
            ),
        ),
    ],
    ids=["empty-body", "conflict"],
)
def test_a_container_removed_while_sampled_is_reported_gone(failure: Exception) -> None:
    """Seen by the fuzzer: a container removed during the second sample gave a 500."""
    web = FakeContainer("appos-a-web-1", "web", "running", [doc(0, 0, usage=100), failure])
    usage = sample_app(lambda: FakeClient([web]), "a", sleep=lambda _: None)
    assert [(c.state, c.memory_bytes) for c in usage.containers] == [("gone", 0)]


def test_another_engine_error_while_sampling_is_unavailable() -> None:
    broken = APIError(
        "server error",
        response=SimpleNamespace(
            status_code=500, reason="Server Error", url="http://docker/containers/x/stats"
        ),
    )
    web = FakeContainer("appos-a-web-1", "web", "running", [broken])
    with pytest.raises(Unavailable, match="Docker did not answer"):
        sample_app(lambda: FakeClient([web]), "a", sleep=lambda _: None)


def test_an_app_without_containers_has_an_empty_list() -> None:
    usage = sample_app(lambda: FakeClient([]), "a", sleep=lambda _: None)
    assert usage.containers == []


def test_docker_down_is_unavailable() -> None:
    def broken() -> Any:
        raise DockerException("connection refused")

    with pytest.raises(Unavailable, match="Docker did not answer"):
        sample_app(broken, "a")
