"""`appos stores` and `appos catalog --store` as a user runs them (issue 20): a subprocess against the
real stack. A CasaOS-layout store in a folder is added, listed, shown with its skipped entry and
reason, its template listed and shown with the community marker and the conversion's note, deployed
with `appos deploy STORE/NAME`; a bad URL exits non-zero with the server's reason; removal leaves the
app running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness import ROOT, Stack, free_port
from tests.integration.test_stores import casaos_store

CLI = [sys.executable, "-m", "cli.main"]
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(stack: Stack, admin_token: str, tmp_path: Path) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPOS_")}
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "home"), APPOS_URL=stack.url, APPOS_TOKEN=admin_token, COLUMNS="220"
    )

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args],
            cwd=ROOT,
            env=env,
            input="",
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    return call


def test_a_store_through_the_cli(
    run: Run, stack: Stack, admin_token: str, tmp_path: Path, busybox_image: str
) -> None:
    store, app = f"cli{uuid.uuid4().hex[:6]}", f"clis{uuid.uuid4().hex[:6]}"
    folder = casaos_store(tmp_path / "casa")
    try:
        added = run("stores", "add", store, str(folder))
        assert added.returncode == 0, added.stderr
        assert "casaos" in added.stdout and "privileged" in added.stdout, added.stdout
        assert f"appos deploy {store}/NAME" in added.stderr  # the next step

        listed = run("stores", "list", "--json")
        mine = next(s for s in json.loads(listed.stdout) if s["name"] == store)
        assert mine["templates"] == 1 and mine["skipped"] == 2

        shown = run("stores", "show", store)
        assert (
            shown.returncode == 0 and "Apps/broken" in shown.stdout and "WHY IT WAS SKIPPED" in shown.stdout
        )

        catalog = run("catalog", "list", "--store", store)
        assert f"{store}/hello" in catalog.stdout and "builtin" not in catalog.stdout
        template = run("catalog", "show", f"{store}/hello")
        assert template.returncode == 0, template.stderr
        assert "community, not reviewed by AppOS" in template.stdout and "DB_PASSWORD" in template.stdout

        deployed = run("deploy", f"{store}/hello", "--name", app, "--set", f"HTTP_PORT={free_port()}")
        assert deployed.returncode == 0, deployed.stderr + deployed.stdout

        bad = run("stores", "add", f"{store}x", "ftp://example.invalid/store")
        assert bad.returncode != 0 and "git repository" in (bad.stderr + bad.stdout)

        removed = run("stores", "remove", store)
        assert removed.returncode == 0 and "keep running" in (removed.stdout + removed.stderr)
        with stack.client(admin_token) as c:
            assert c.get(f"/api/v1/apps/{app}").json()["status"] == "running"
    finally:
        run("stores", "remove", store)
        with stack.client(admin_token) as c:
            r = c.delete(f"/api/v1/apps/{app}", params={"remove_volumes": "true"})
            if r.status_code == 202:
                stack.wait_deployment(admin_token, r.json()["deployment"]["id"])
