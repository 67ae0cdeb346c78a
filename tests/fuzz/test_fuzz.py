"""Every REST operation fuzzed by schemathesis from the stack's own OpenAPI document, as an admin
and as a viewer: no 5xx, every status and body as the document declares, and afterwards state,
files and containers still agree.

`make test` runs a bounded, seeded variant (at least 2,000 cases in all); `make fuzz` a long one
(APPOS_FUZZ_EXAMPLES=100: about 20,000).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import consistency
from tests.fuzz import runner
from tests.harness import Stack, start_stack

# Cases per operation. The admin's run adds schemathesis's coverage phase (boundary and invalid
# values of every parameter, about 25 cases per operation whatever the count); the viewer's run,
# mostly quick 403s, is random fuzzing only.
EXAMPLES = int(os.environ.get("APPOS_FUZZ_EXAMPLES", "4"))
VIEWER_EXAMPLES = 2 * EXAMPLES
SEED = int(os.environ.get("APPOS_FUZZ_SEED", "20261125"))
MIN_CASES = 2000

pytestmark = pytest.mark.xdist_group("fuzz")


@pytest.fixture
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory, busybox_image: str) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("fuzz"))
    try:
        yield running
    finally:
        try:  # a token made before the fuzzer ran: its failed logins lock out 127.0.0.1 for a minute
            consistency.remove_all_apps(running, running.env["FUZZ_ADMIN_TOKEN"])
        finally:
            running.stop()


def _seed_data(stack: Stack, admin: str) -> tuple[dict[str, list[Any]], str]:
    """An app with two versions, a viewer, an API token: values the fuzzer may reuse. The viewer's
    access token is returned too."""
    app = f"fz{uuid.uuid4().hex[:6]}"  # Docker is shared: a name no other stack uses
    reply, ended = stack.deploy(admin, {"name": app, "compose": runner.BUSYBOX_COMPOSE, "env": ""})
    assert ended["status"] == "succeeded", ended
    with stack.client(admin) as c:
        etag = c.get(f"/api/v1/apps/{app}/compose").headers["etag"]
        edited = c.put(
            f"/api/v1/apps/{app}/compose",
            headers={"If-Match": etag},
            json={"compose": runner.BUSYBOX_COMPOSE, "env": "A=1\n", "message": "v2"},
        )
        assert edited.status_code == 200, edited.text
        user = c.post(
            "/api/v1/users", json={"username": "fzviewer", "password": "fz-viewer-pw-1", "role": "viewer"}
        )
        assert user.status_code == 200, user.text
        api_token = c.post("/api/v1/tokens", json={"name": "fz"}).json()
        templates = [t["name"] for t in c.get("/api/v1/catalog").json()["templates"]]
    viewer = stack.login("fzviewer", "fz-viewer-pw-1")
    known: dict[str, list[Any]] = {
        "apps": [app],
        "templates": templates[:5],
        "users": ["fzviewer"],
        "ids": [reply["deployment"]["id"], api_token["id"]],
        "numbers": [1, 2],
        "composes": [runner.BUSYBOX_COMPOSE],
    }
    return known, viewer


@pytest.mark.timeout(900 if EXAMPLES <= 8 else 0)
def test_fuzz_every_operation_as_viewer_and_admin(fuzz_stack: Stack, tmp_path: Path) -> None:
    stack = fuzz_stack
    admin = stack.env["FUZZ_ADMIN_TOKEN"] = stack.login()
    known, viewer = _seed_data(stack, admin)
    results = {}
    # the viewer first: the admin's run may delete or change the viewer
    runs = (
        ("viewer", viewer, VIEWER_EXAMPLES, "examples,fuzzing"),
        ("admin", admin, EXAMPLES, "examples,coverage,fuzzing"),
    )
    for label, token, examples, phases in runs:
        results[label] = runner.run(
            url=stack.url,
            token=token,
            workdir=tmp_path,
            examples=examples,
            seed=SEED,
            known=known,
            label=label,
            phases=phases,
            protected_users=("admin", "fzviewer") if label == "viewer" else ("admin",),
        )
    for label, result in results.items():
        assert result.errors == [], f"{label}: schemathesis errors {result.errors}\n{result.output[-6000:]}"
        assert result.failures == [], f"{label}: {result.failures}\n{result.output[-12000:]}"
    served = runner.operation_count(runner.served_document(stack.url, admin))
    assert all(r.operations == served - runner.excluded_operations() for r in results.values()), (
        "every operation but the excluded ones (runner.EXCLUDED) was fuzzed",
        {k: r.operations for k, r in results.items()},
        served,
    )
    total = sum(r.generated for r in results.values())
    print(f"fuzzed {total} cases over {served} operations (seed {SEED})")  # noqa: T201
    assert total >= (MIN_CASES if EXAMPLES >= 4 else 1)

    assert stack.health() == 200
    left = consistency.wait_settled(stack, admin, timeout=240)
    assert left == [], f"deployments still unfinished after fuzzing: {left}"
    assert consistency.problems(stack, admin) == []
