"""Kill -9 every part, one at a time, under a steady load of deploys, edits, rollbacks and reads;
a Redis kill with AOF replay; a full stop/start. Then: every acknowledged write is there, no
deployment is left pending or running, every app's containers are as its last successful
deployment left them, supervisord restarted each part, and clients saw 503s (or refused
connections while the gateway itself was down), never a hang or a 500.

`make test` kills each part once; `make chaos` repeats APPOS_CHAOS_ROUNDS (default 5) rounds.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests import consistency
from tests.chaos import chaos
from tests.fuzz.runner import BUSYBOX_COMPOSE
from tests.harness import Stack, start_stack

ROUNDS = int(os.environ.get("APPOS_CHAOS_ROUNDS", "1"))

pytestmark = pytest.mark.xdist_group("chaos")


@pytest.fixture
def chaos_stack(tmp_path_factory: pytest.TempPathFactory, busybox_image: str) -> Iterator[list[Stack]]:
    holder = [start_stack(tmp_path_factory.mktemp("chaos"), extra_env=chaos.QUICK_RECONCILE)]
    holder[0].env["CHAOS_TOKEN"] = holder[0].login()
    try:
        yield holder  # the test may replace the stack (full restart)
    finally:
        try:
            consistency.remove_all_apps(holder[-1], holder[-1].env["CHAOS_TOKEN"])
        finally:
            holder[-1].stop()


@pytest.mark.timeout(900 * ROUNDS)
def test_kill_every_part_under_load_then_everything_holds(chaos_stack: list[Stack]) -> None:
    stack = chaos_stack[0]
    token = stack.env["CHAOS_TOKEN"]
    apps = [f"ch{uuid.uuid4().hex[:6]}" for _ in range(2)]
    for app in apps:
        _reply, ended = stack.deploy(token, {"name": app, "compose": BUSYBOX_COMPOSE, "env": ""})
        assert ended["status"] == "succeeded", ended
    record = chaos.Record()
    killed: list[tuple[str, float]] = []
    with chaos.Load(stack, token, apps, record):
        for _ in range(ROUNDS):
            for program in chaos.PROGRAMS:
                killed.append((program, chaos.kill_and_wait(stack, program)))
        # Redis: a write acknowledged just before a kill -9 is replayed from the AOF
        marker = uuid.uuid4().hex
        assert chaos.redis_cli(stack, "SET", "appos:chaos:marker", marker) == "OK"
        killed.append(("redis (AOF)", chaos.kill_and_wait(stack, "redis")))
        assert chaos.redis_cli(stack, "GET", "appos:chaos:marker") == marker
    # a full stop and start of the whole stack, then more load
    stack = chaos.restart_stack(stack)
    chaos_stack.append(stack)
    assert chaos.redis_cli(stack, "GET", "appos:chaos:marker") == marker
    with chaos.Load(stack, token, apps, record):
        killed.append(("deployer", chaos.kill_and_wait(stack, "deployer")))  # and its Celery worker

    assert record.hangs == [], record.hangs
    assert record.server_errors == [], record.server_errors
    assert record.statuses["503"] + record.statuses["ConnectError"] > 0, record.statuses
    assert consistency.wait_settled(stack, token, timeout=180) == []
    assert chaos.verify(stack, token, record, apps) == []
    print(  # noqa: T201
        f"chaos: {len(killed)} kills survived ({', '.join(f'{p} {s:.1f}s' for p, s in killed)}); "
        f"{record.requests} requests {dict(record.statuses)}; {sum(map(len, record.versions.values()))} "
        f"versions, {len(record.deployments)} deployments, {len(record.users)} users acknowledged and kept"
    )
