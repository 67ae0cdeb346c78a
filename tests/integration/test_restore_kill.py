"""A restore is a queued job of recorded steps: a kill -9 of the deployer (and its worker) or of state
in the middle of one never leaves it `running`. The job waits at a named step
(APPOS_TEST_RESTORE_PAUSE_AT, once per restore), the test kills the part there, supervisord starts it
again, and the restore ends: succeeded with the backup's data, or failed naming the step."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Stack, free_port, start_stack, wait_for

pytestmark = [pytest.mark.usefixtures("busybox_image"), pytest.mark.xdist_group("backups")]


@pytest.fixture
def stacks(docker_engine: None) -> Iterator[list[Stack]]:
    started: list[Stack] = []
    yield started
    for stack in started:
        stack.stop()


def _paused_stack(stacks: list[Stack], tmp: pytest.TempPathFactory, step: str) -> Stack:
    stack = start_stack(
        tmp.mktemp(f"restore-{step}"),
        extra_env={
            "APPOS_TEST_RESTORE_PAUSE_AT": step,
            "APPOS_HEARTBEAT_SECONDS": "1",
            "APPOS_HEARTBEAT_TTL_SECONDS": "4",
            "APPOS_RECONCILE_INTERVAL_SECONDS": "1",
        },
    )
    stacks.append(stack)
    return stack


def _backed_up_install(stack: Stack) -> tuple[str, str, str]:
    """An app, a backup of it, then changes made after the backup: (app, backup id, password)."""
    password, token = stack.admin_password(), stack.login()
    app = f"rk-{uuid.uuid4().hex[:6]}"
    _, deployment = stack.deploy(
        token, {"name": app, "template": "busybox-httpd", "settings": {"HTTP_PORT": str(free_port())}}
    )
    assert deployment["status"] == "succeeded", deployment
    with stack.client(token) as c:
        r = c.post("/api/v1/backups", json={"message": "before the changes"})
        assert r.status_code == 202, r.text
        backup_id = r.json()["id"]
        wait_for(
            lambda: c.get(f"/api/v1/backups/{backup_id}").json()["status"] != "running",
            timeout=120,
            interval=0.2,
            what="the backup",
        )
        assert c.get(f"/api/v1/backups/{backup_id}").json()["status"] == "succeeded"
        r = c.post(
            "/api/v1/users", json={"username": "late", "password": "late-password-1", "role": "viewer"}
        )
        assert r.status_code == 200, r.text
    (stack.data / "apps" / app / "late.txt").write_text("made after the backup\n")
    return app, backup_id, password


def _start_restore(stack: Stack, backup_id: str, step: str) -> tuple[str, Path]:
    with stack.client(stack.login()) as c:
        r = c.post("/api/v1/backups/restore", json={"backup_id": backup_id, "force": True})
    assert r.status_code == 202, r.text
    restore_id = str(r.json()["restore"]["id"])
    folder = stack.data / "backups" / "restores" / restore_id
    wait_for((folder / f"paused-{step}").exists, timeout=120, what=f"the restore to reach {step}")
    return restore_id, folder


def _assert_restored(stack: Stack, ended: dict[str, Any], app: str, password: str) -> None:
    assert ended["status"] == "succeeded", ended
    assert [s["status"] for s in ended["steps"]] == ["done"] * len(ended["steps"]), ended["steps"]
    assert not (stack.data / "backups" / "restores" / ended["id"]).exists(), (
        "previous/ goes once it succeeded"
    )
    assert not (stack.data / "apps" / app / "late.txt").exists(), "the app folder is the backup's"
    token = stack.login("admin", password)  # the backup's admin
    with stack.client(token) as c:
        users = [u["username"] for u in c.get("/api/v1/users").json()["users"]]
        assert "late" not in users, users
        shown = c.get(f"/api/v1/backups/restores/{ended['id']}").json()
    assert shown["status"] == "succeeded", shown
    [deployment_id] = ended["deployment_ids"]
    assert stack.wait_deployment(token, deployment_id)["status"] == "succeeded"


def test_kill_9_of_the_deployer_mid_restore_resumes_it_from_its_step(
    stacks: list[Stack], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Killed after the database was replaced and before the app folders are placed: the worst
    moment. The restarted deployer's reconciler sees the job's alive key gone and queues it again;
    the job goes on from place_files."""
    stack = _paused_stack(stacks, tmp_path_factory, "place_files")
    app, backup_id, password = _backed_up_install(stack)
    restore_id, folder = _start_restore(stack, backup_id, "place_files")
    assert (folder / "previous" / "apps" / app / "late.txt").exists(), "the install's own folders are kept"
    assert (folder / "previous" / "appos.db").exists(), "and its database"
    deployer = stack.pid_of("deployer")
    os.kill(deployer, signal.SIGKILL)
    ended = stack.wait_restore(restore_id)
    assert ended["runs"] == 2, "resumed once after the kill"
    assert stack.pid_of("deployer") != deployer
    _assert_restored(stack, ended, app, password)


def test_kill_9_of_state_mid_restore_the_restore_still_ends(
    stacks: list[Stack], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """State is killed as the job is about to hand it the backup's database: the step is tried
    again until state answers, and the restore ends (never `running`)."""
    stack = _paused_stack(stacks, tmp_path_factory, "restore_database")
    app, backup_id, password = _backed_up_install(stack)
    restore_id, folder = _start_restore(stack, backup_id, "restore_database")
    state = stack.pid_of("state")
    os.kill(state, signal.SIGKILL)
    (folder / "resume-restore_database").touch()  # the job goes on while state is down
    ended = stack.wait_restore(restore_id)
    if ended["status"] == "failed":  # allowed, but then it names the step
        assert ended["step"] == "restore_database" and "restore_database" in ended["reason"], ended
        return
    assert ended["runs"] == 1, ended
    assert stack.pid_of("state") != state
    _assert_restored(stack, ended, app, password)
