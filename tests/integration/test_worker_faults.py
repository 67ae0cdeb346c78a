"""A worker killed mid-deployment: the deployment still ends (retried or failed with a reason)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import httpx
import pytest

from tests.harness import Stack, start_stack, wait_for


@pytest.fixture
def quick_reconcile_stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("faults"),
        extra_env={
            "APPOS_HEARTBEAT_SECONDS": "1",
            "APPOS_HEARTBEAT_TTL_SECONDS": "4",
            "APPOS_RECONCILE_INTERVAL_SECONDS": "1",
        },
    )
    yield running
    running.stop()


@pytest.mark.usefixtures("busybox_image")
def test_kill_9_of_the_worker_during_compose_up_never_leaves_the_deployment_running(
    quick_reconcile_stack: Stack,
) -> None:
    stack = quick_reconcile_stack
    token = stack.login()
    with stack.client(token) as c:
        r = c.post(
            "/api/v1/apps", json={"name": "victim", "template": "busybox-slow", "settings": {"DELAY": "6"}}
        )
        assert r.status_code == 202
        deployment_id = r.json()["deployment"]["id"]
        wait_for(
            lambda: c.get(f"/api/v1/deployments/{deployment_id}").json()["status"] == "running",
            timeout=30,
            what="compose up to start",
        )
    # the Celery worker runs on threads of the deployer: kill -9 of the deployer kills it mid-compose
    worker = stack.pid_of("deployer")
    os.kill(worker, signal.SIGKILL)
    ended = stack.wait_deployment(token, deployment_id, timeout=120)
    assert ended["status"] in ("succeeded", "failed"), ended
    assert ended["attempt"] == 2, "the reconciler noticed the lost worker and ran it again"
    wait_for(
        lambda: stack.pid_of("deployer") != worker,
        timeout=30,
        what="supervisord to restart the deployer and its worker",
    )
    with stack.client(token) as c:
        unfinished = [
            d
            for d in c.get("/api/v1/deployments").json()["deployments"]
            if d["status"] in ("pending", "running")
        ]
        assert unfinished == []
        events = c.get(f"/api/v1/deployments/{deployment_id}/logs").json()["lines"]
    assert events, "the deployment's output was recorded"
    assert stack.act(token, "victim", "remove", remove_volumes="true")["status"] == "succeeded"


@pytest.mark.usefixtures("busybox_image")
def test_redis_down_at_create_time_is_503_and_leaves_no_app_behind(quick_reconcile_stack: Stack) -> None:
    stack = quick_reconcile_stack
    token = stack.login()
    request = {"name": "noqueue", "template": "busybox-httpd"}
    stack.supervisorctl("stop", "redis")
    try:
        with stack.client(token) as c:
            r = c.post("/api/v1/apps", json=request)
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "unavailable"
            assert "queue" in r.json()["message"] and "not created" in r.json()["message"]
            assert c.get("/api/v1/apps/noqueue").status_code == 404
    finally:
        stack.supervisorctl("start", "redis")
    with stack.client(token) as c:
        deployments = c.get("/api/v1/deployments", params={"app": "noqueue"}).json()["deployments"]
        # the attempt stays on record, ended: nothing is stuck pending
        assert [(d["status"], d["reason"]) for d in deployments] == [
            ("failed", "the task queue (redis) is unavailable")
        ]
        # the very same request works once the queue is back

        def created() -> httpx.Response | None:
            answer = c.post("/api/v1/apps", json=request)
            return None if answer.status_code == 503 else answer

        retry = wait_for(created, timeout=30, what="redis to take tasks again")
        assert retry.status_code == 202, retry.text
    assert stack.wait_deployment(token, retry.json()["deployment"]["id"])["status"] == "succeeded"
    assert stack.act(token, "noqueue", "remove", remove_volumes="true")["status"] == "succeeded"


@pytest.mark.usefixtures("busybox_image")
def test_stopping_the_deployer_during_compose_up_ends_it_and_the_deployment_still_ends(
    quick_reconcile_stack: Stack,
) -> None:
    """The Celery worker runs inside the deployer: a SIGTERM while a deployment runs gives it a
    bounded warm shutdown and then ends the process itself (exit 0, not supervisord's SIGKILL); the
    deployment is taken back after the restart."""
    stack = quick_reconcile_stack
    token = stack.login()
    with stack.client(token) as c:
        r = c.post(
            "/api/v1/apps", json={"name": "stopped", "template": "busybox-slow", "settings": {"DELAY": "30"}}
        )
        assert r.status_code == 202
        deployment_id = r.json()["deployment"]["id"]
        wait_for(
            lambda: c.get(f"/api/v1/deployments/{deployment_id}").json()["status"] == "running",
            timeout=30,
            what="compose up to start",
        )
    assert "stopped" in stack.supervisorctl("stop", "deployer")
    log = (stack.data / "log" / "supervisord.log").read_text()
    assert "stopped: deployer (exit status 0)" in log, log[-2000:]
    assert "still runs tasks" in (stack.data / "log" / "deployer.log").read_text()
    stack.supervisorctl("start", "deployer")
    ended = stack.wait_deployment(token, deployment_id, timeout=180)
    assert ended["status"] in ("succeeded", "failed"), ended
    assert stack.act(token, "stopped", "remove", remove_volumes="true")["status"] == "succeeded"
