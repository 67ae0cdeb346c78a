"""GET /metrics through the real stack: every family, the counters moving when a deploy runs, the
token rule and the local-only mode."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from appos.v1 import auth_pb2, auth_pb2_grpc, proxy_pb2, state_pb2, state_pb2_grpc
from services.common import queues
from services.common.clients import sync_channel
from services.common.timestamps import now_us, set_ts
from tests.harness import Stack, free_port, start_stack, wait_for

pytestmark = [pytest.mark.usefixtures("busybox_image"), pytest.mark.xdist_group("metrics")]

PROGRAMS = {
    "supervisord",
    "redis",
    "state",
    "gateway",
    "deployer",
    "proxyctl",
    "terminal",
    "caddy",
}


def scrape(stack: Stack, token: str | None) -> dict[str, list[Sample]]:
    with stack.client(token) as c:
        r = c.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(r.text)}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when none)."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def test_metrics_need_a_token_of_any_role(stack: Stack, admin_token: str) -> None:
    with stack.client() as c:
        missing = c.get("/metrics")
        bad = c.get("/metrics", headers={"Authorization": "Bearer nonsense"})
    assert missing.status_code == 401 and set(missing.json()) == {"code", "message", "request_id"}
    assert bad.status_code == 401
    name, password = f"mv{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with stack.client(admin_token) as c:
        assert c.post(
            "/api/v1/users", json={"username": name, "password": password, "role": "viewer"}
        ).is_success
    assert "appos_http_requests" in scrape(stack, stack.login(name, password))


def test_every_family_and_deploy_counters_move(stack: Stack, admin_token: str) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{stack.env['APPOS_GRPC_PORT']}") as channel:  # one incoming call
        auth_pb2_grpc.AuthStub(channel).Me(
            auth_pb2.MeRequest(), metadata=(("authorization", f"Bearer {admin_token}"),), timeout=30
        )
    before = scrape(stack, admin_token)
    for family in (
        "appos_http_requests",
        "appos_http_request_duration_seconds",
        "appos_grpc_client_calls",
        "appos_grpc_client_call_duration_seconds",
        "appos_grpc_server_calls",
        "appos_grpc_server_call_duration_seconds",
        "appos_deployments",
        "appos_deployments_in_progress",
        "appos_deployment_duration_seconds",
        "appos_queue_depth",
        "appos_apps",
        "appos_certificate_expiry_days",
        "appos_process_resident_memory_bytes",
    ):
        assert family in before, f"{family} is missing"
    assert (
        value(before["appos_grpc_server_calls"], "appos_grpc_server_calls_total", method="/appos.v1.Auth/Me")
        >= 1
    )
    memory = {s.labels["program"]: s.value for s in before["appos_process_resident_memory_bytes"]}
    assert PROGRAMS <= set(memory) and all(v > 0 for v in memory.values()), memory
    assert {s.labels["source"]: s.value for s in before["appos_metrics_source_up"]} == {
        "state": 1.0,
        "redis": 1.0,
        "supervisor": 1.0,
    }
    depths = {s.labels["queue"]: s.value for s in before["appos_queue_depth"]}
    assert set(depths) == set(queues.ALL) and all(v >= 0 for v in depths.values()), depths

    app, port = f"mx{uuid.uuid4().hex[:8]}", free_port()
    _, deployment = stack.deploy(
        admin_token, {"name": app, "template": "busybox-httpd", "settings": {"HTTP_PORT": str(port)}}
    )
    assert deployment["status"] == "succeeded"

    def moved() -> dict[str, list[Sample]] | None:
        after = scrape(stack, admin_token)  # scrape-time figures are cached for a few seconds
        done = value(
            after["appos_deployments"], "appos_deployments_total", action="deploy", result="succeeded"
        )
        was = value(
            before["appos_deployments"], "appos_deployments_total", action="deploy", result="succeeded"
        )
        return after if done == was + 1 else None

    after = wait_for(moved, timeout=30, interval=1, what="appos_deployments_total to count the deploy")
    route = {"method": "POST", "route": "/api/v1/apps", "status": "202"}
    assert value(after["appos_http_requests"], "appos_http_requests_total", **route) == (
        value(before["appos_http_requests"], "appos_http_requests_total", **route) + 1
    )
    latency = after["appos_http_request_duration_seconds"]
    assert (
        value(latency, "appos_http_request_duration_seconds_count", method="POST", route="/api/v1/apps") >= 1
    )
    durations = after["appos_deployment_duration_seconds"]
    count = value(durations, "appos_deployment_duration_seconds_count", action="deploy", result="succeeded")
    assert count == value(
        durations, "appos_deployment_duration_seconds_bucket", action="deploy", result="succeeded", le="+Inf"
    )
    assert value(durations, "appos_deployment_duration_seconds_sum", action="deploy", result="succeeded") > 0
    assert value(after["appos_apps"], "appos_apps", status="running") >= 1
    call = {"method": "/appos.v1.Apps/CreateApp", "code": "OK"}
    assert value(after["appos_grpc_client_calls"], "appos_grpc_client_calls_total", **call) >= 1
    assert stack.act(admin_token, app, "remove", remove_volumes="true")["status"] == "succeeded"


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("metrics-local"),
        extra_env={"APPOS_METRICS_PUBLIC_LOCAL": "true", "APPOS_METRICS_CACHE_SECONDS": "0"},
    )
    yield running
    running.stop()


def test_local_only_mode_and_certificate_expiry(local_stack: Stack) -> None:
    domain = f"m{uuid.uuid4().hex[:8]}.example.test"
    channel = sync_channel(local_stack.run_dir / "state.sock")  # a certificate as proxyctl records one
    try:
        state = state_pb2_grpc.StateStub(channel)
        spec = proxy_pb2.Domain(
            domain=domain, app="", service="", port=80, upstream="127.0.0.1:9", https=False
        )
        state.PutDomain(state_pb2.StatePutDomainRequest(domain=spec, actor="test"), timeout=10)
        cert = proxy_pb2.Certificate(domain=domain, status="valid", issuer="test")
        set_ts(cert.not_after, now_us() + 10 * 86400 * 1_000_000)
        state.UpdateCertificate(state_pb2.StateUpdateCertificateRequest(certificate=cert), timeout=10)
    finally:
        channel.close()
    families = scrape(local_stack, None)  # loopback, no token
    days = value(families["appos_certificate_expiry_days"], "appos_certificate_expiry_days", domain=domain)
    assert 9.9 < days <= 10.0
    with local_stack.client() as c:
        assert c.get("/metrics", headers={"Authorization": "Bearer nonsense"}).status_code == 401
        assert c.get("/api/v1/apps").status_code == 401  # the mode opens /metrics only
    with httpx.Client(base_url=local_stack.url, timeout=30) as c:
        assert c.get("/metrics").status_code == 200
