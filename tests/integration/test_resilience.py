"""A killed service is restarted by supervisord; meanwhile the gateway answers 503, never 500 or a
hang; nothing written before is lost."""

from __future__ import annotations

import os
import signal

from tests.harness import Stack, wait_for


def test_kill_9_of_state_gives_503_then_recovers_with_nothing_lost(fresh_stack: Stack) -> None:
    stack = fresh_stack
    admin = stack.login()
    with stack.client(admin) as c:
        created = c.post(
            "/api/v1/users", json={"username": "survivor", "password": "s" * 12, "role": "operator"}
        )
        assert created.status_code == 200
        token = c.post("/api/v1/tokens", json={"name": "before-crash"}).json()["secret"]

    old_pid = stack.pid_of("state")
    stack.supervisorctl("stop", "state")  # hold it down long enough to look at the 503s
    with stack.client(admin) as c:
        health = c.get("/health")
        assert health.status_code == 503
        parts = {p["name"]: p for p in health.json()["parts"]}
        assert parts["state"]["status"] == "down"
        assert parts["redis"]["status"] == "ok"
        r = c.get("/api/v1/users/survivor")
        assert r.status_code == 503
        assert r.json()["code"] == "unavailable"
        assert "state" in r.json()["message"]
    with stack.client(token) as c:
        assert c.get("/api/v1/auth/me").status_code == 503
    stack.supervisorctl("start", "state")
    wait_for(lambda: stack.health() == 200, timeout=30, what="state to come back")

    # now the real thing: kill -9, and let supervisord notice by itself
    pid = stack.pid_of("state")
    assert pid != old_pid
    os.kill(pid, signal.SIGKILL)
    statuses = set()

    def recovered() -> bool:
        status = stack.health()
        statuses.add(status)
        return status == 200 and stack.pid_of("state") != pid

    wait_for(recovered, timeout=30, interval=0.05, what="supervisord to restart state")
    assert 503 in statuses and statuses <= {200, 503}, statuses

    with stack.client(admin) as c:
        user = c.get("/api/v1/users/survivor")
        assert user.status_code == 200
        assert user.json()["role"] == "operator"
    with stack.client(token) as c:
        assert c.get("/api/v1/auth/me").status_code == 200


def test_kill_9_of_redis_and_gateway_recover(fresh_stack: Stack) -> None:
    stack = fresh_stack
    for program in ("redis", "gateway"):
        pid = stack.pid_of(program)
        os.kill(pid, signal.SIGKILL)
        wait_for(
            lambda pid=pid, program=program: stack.health() == 200 and stack.pid_of(program) != pid,
            timeout=30,
            what=f"{program} to come back",
        )
    stack.login()
