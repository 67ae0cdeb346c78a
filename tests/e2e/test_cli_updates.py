"""`appos update` as a user runs it (issue 19): a subprocess against the real stack and a real
registry v2 on loopback (`tests/registry.py`). Two repositories: `good` (1.0.0 → 1.0.1, healthy)
and `bad` (1.0.0 → 1.1.0, whose /version lacks "healthy", the word the healthcheck looks for). One
app follows a good update live to exit 0; `--all` over a good and a bad app exits 1 naming the bad
one and why, while the good one is updated and the bad one serves its old version again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.test_console_updates import check_and_wait
from tests.harness import ROOT, Stack, docker_client, free_port
from tests.registry import LocalRegistry, push_image, remove_images, start_registry

pytestmark = pytest.mark.xdist_group("cli_updates")

CLI = [sys.executable, "-m", "cli.main"]
CONTENT = {("good", "1.0.0"): "good 1.0.0 healthy\n", ("good", "1.0.1"): "good 1.0.1 healthy\n",
           ("bad", "1.0.0"): "bad 1.0.0 healthy\n", ("bad", "1.1.0"): "bad 1.1.0 sick\n"}  # fmt: skip
COMPOSE = """\
services:
  web:
    image: {image}
    init: true
    command: ["httpd", "-f", "-p", "8080", "-h", "/"]
    ports:
      - "127.0.0.1:{port}:8080"
    healthcheck:
      test: ["CMD", "grep", "-q", "healthy", "/version"]
      interval: 1s
      timeout: 2s
      retries: 2
"""
Run = Callable[..., subprocess.CompletedProcess[str]]


@dataclass
class Apps:
    registry: LocalRegistry
    ports: dict[str, int]  # app → its published port


def _deploy(stack: Stack, token: str, registry: LocalRegistry, app: str, repository: str) -> int:
    port = free_port()
    image = registry.image(f"appos-cli/{repository}", "1.0.0")
    _, deployment = stack.deploy(token, {"name": app, "compose": COMPOSE.format(image=image, port=port)})
    assert deployment["status"] == "succeeded", deployment
    return port


@pytest.fixture(scope="module")
def apps(
    stack: Stack, admin_token: str, tmp_path_factory: pytest.TempPathFactory, busybox_image: str
) -> Iterator[Apps]:
    client = docker_client()
    registry = start_registry(tmp_path_factory.mktemp("registry"))
    suffix = uuid.uuid4().hex[:6]
    names = {"one": f"cliup{suffix}", "good": f"cligood{suffix}", "bad": f"clibad{suffix}"}
    try:
        for (repository, tag), content in CONTENT.items():
            push_image(client, registry.image(f"appos-cli/{repository}", tag), content=content)
        remove_images(client, registry)  # the engine pulls what the apps run
        ports = {
            names["one"]: _deploy(stack, admin_token, registry, names["one"], "good"),
            names["good"]: _deploy(stack, admin_token, registry, names["good"], "good"),
            names["bad"]: _deploy(stack, admin_token, registry, names["bad"], "bad"),
        }
        check_and_wait(stack, admin_token)
        yield Apps(registry, ports)
    finally:
        for name in names.values():
            stack.remove_app(admin_token, name)
        registry.stop()
        remove_images(client, registry)
        client.close()


@pytest.fixture(scope="module")
def run(stack: Stack, admin_token: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    home = tmp_path_factory.mktemp("cli-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPOS_")}
    env.update(XDG_CONFIG_HOME=str(home), APPOS_URL=stack.url, APPOS_TOKEN=admin_token, COLUMNS="200")

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


def _serves(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/version", timeout=10).text


def _app(apps: Apps, prefix: str) -> str:
    return next(name for name in apps.ports if name.startswith(prefix))


def test_update_follows_the_steps_live_and_exits_0(apps: Apps, run: Run) -> None:
    app = _app(apps, "cliup")
    result = run("update", app)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Updating {app}" in result.stdout
    for step in ("snapshot", "pull", "redeploy", "health"):
        assert f"update: {step}" in result.stdout, result.stdout  # the steps, as they ran
    assert f"update of {app}" in result.stdout and "succeeded" in result.stdout
    assert _serves(apps.ports[app]) == "good 1.0.1 healthy\n"


def test_update_all_goes_on_past_a_failure_and_names_it(
    stack: Stack, admin_token: str, apps: Apps, run: Run
) -> None:
    good, bad = _app(apps, "cligood"), _app(apps, "clibad")
    result = run("update", "--all", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    outcomes: list[dict[str, Any]] = json.loads(result.stdout)
    by_app = {o["app"]: o for o in outcomes}
    assert by_app[good]["ok"] is True and by_app[good]["deployment"]["status"] == "succeeded"
    assert by_app[bad]["ok"] is False
    assert "rolled back" in by_app[bad]["message"], by_app[bad]["message"]
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: updated ") and f"failed: {bad} (" in error, result.stderr
    assert good not in error.split("failed:", 1)[1]
    assert _serves(apps.ports[good]) == "good 1.0.1 healthy\n"
    assert _serves(apps.ports[bad]) == "bad 1.0.0 healthy\n"  # rolled back: the old version answers again
