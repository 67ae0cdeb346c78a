"""Image updates in the console (issue 19), in Chromium against the real stack and a real registry v2
on loopback (`tests/registry.py`): `…/web` 1.0.0, 1.0.1, 1.1.0 and 2.0.0 pushed, an app deployed
from 1.0.0 (the engine pulls it from the registry), a check through REST; then the Updates page
lists it grouped by app with the major marked, the apps list shows the badge, Check now refreshes
the list from the `updates_checked` event, a viewer sees no button, and Update runs to success on
the deployment's live page; Update all goes on past an app whose new version is unhealthy (rolled
back) and its summary names it. The first test also writes docs/screenshots/updates.png."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import ARTIFACTS, sign_in
from tests.harness import ROOT, Stack, docker_client, free_port
from tests.registry import WEB_COMPOSE, LocalRegistry, push_image, remove_images, start_registry

pytestmark = [pytest.mark.xdist_group("browser")]

DEPLOY_TIMEOUT = 180_000  # ms: an update's whole run (snapshot, pull, redeploy, health gate)
REPOSITORY = "appos-e2e/web"
VERSIONS = ("1.0.0", "1.0.1", "1.1.0", "2.0.0")


@dataclass
class Seeded:
    registry: LocalRegistry
    digests: dict[str, str]
    app: str
    port: int


def check_and_wait(stack: Stack, token: str) -> dict[str, Any]:
    """POST the check (202) while subscribed to the events; its `updates_checked` event's payload
    (the one naming the job the 202 gave, not an update's re-check of its app)."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.stream(
        "GET", f"{stack.url}/api/v1/events", headers=headers, timeout=httpx.Timeout(10, read=120)
    ) as events:
        assert events.status_code == 200
        lines = events.iter_lines()
        while not next(lines).startswith(": events after "):
            pass  # subscribed from here: the check's end cannot be missed
        with stack.client(token) as c:
            r = c.post("/api/v1/updates/check", json={})
        assert r.status_code == 202, r.text
        for line in lines:
            if line.startswith("data: "):
                event: dict[str, Any] = json.loads(line.removeprefix("data: "))
                if event["type"] == "updates_checked" and event["payload"]["job"] == r.json()["id"]:
                    return event["payload"]  # type: ignore[no-any-return]
    raise AssertionError("the events stream ended before updates_checked")


@pytest.fixture(scope="module")
def seeded(
    stack: Stack, admin_token: str, tmp_path_factory: pytest.TempPathFactory, busybox_image: str
) -> Iterator[Seeded]:
    client = docker_client()
    registry = start_registry(tmp_path_factory.mktemp("registry"))
    app = f"updui{uuid.uuid4().hex[:6]}"
    try:
        digests = {
            v: push_image(client, registry.image(REPOSITORY, v), content=f"web {v}\n") for v in VERSIONS
        }
        client.images.remove(registry.image(REPOSITORY, "1.0.0"), force=True)  # the engine pulls it
        port = free_port()
        compose = WEB_COMPOSE.format(image=registry.image(REPOSITORY, "1.0.0"), port=port)
        _, deployment = stack.deploy(admin_token, {"name": app, "compose": compose})
        assert deployment["status"] == "succeeded", deployment
        counts = check_and_wait(stack, admin_token)
        assert counts["updates"] >= 3, counts
        yield Seeded(registry, digests, app, port)
    finally:
        with stack.client(admin_token) as c:
            r = c.delete(f"/api/v1/apps/{app}", params={"remove_volumes": "true"})
        if r.status_code == 202:
            stack.wait_deployment(admin_token, r.json()["deployment"]["id"])
        registry.stop()
        remove_images(client, registry)
        client.close()


@pytest.fixture(scope="module")
def viewer(stack: Stack, admin_token: str) -> tuple[str, str]:
    username, password = f"updviewer{uuid.uuid4().hex[:6]}", "viewer-password-e2e"
    with stack.client(admin_token) as c:
        r = c.post("/api/v1/users", json={"username": username, "password": password, "role": "viewer"})
    assert r.status_code == 200, r.text
    return username, password


def _shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"updates-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_the_updates_page_lists_the_check_and_the_apps_list_shows_the_badge(
    stack: Stack, page: Page, seeded: Seeded
) -> None:
    sign_in(page, stack.url, "admin", stack.admin_password())
    page.get_by_role("link", name="Updates", exact=True).first.click()
    group = page.get_by_test_id(f"updates-{seeded.app}")
    expect(group).to_be_visible()
    expect(group.get_by_test_id("update-kind")).to_have_text(["patch", "minor", "major"])
    major = group.get_by_test_id(f"update-row-{seeded.app}-web-major")
    expect(major).to_contain_text("1.0.0")
    expect(major).to_contain_text(seeded.digests["1.0.0"].removeprefix("sha256:")[:12])
    expect(major).to_contain_text("2.0.0")
    expect(major).to_contain_text("major — may need changes, read the release notes")
    expect(page.get_by_test_id("last-check")).to_contain_text("Last checked")
    expect(page.get_by_test_id(f"update-{seeded.app}")).to_be_visible()
    expect(page.get_by_test_id("update-all")).to_be_visible()
    _shot(page, "admin")
    page.screenshot(path=str(ROOT / "docs" / "screenshots" / "updates.png"))

    # Check now: 202, then the list is read again when the check's updates_checked event arrives
    def read_again(response: Any) -> bool:
        return bool(response.url.endswith("/api/v1/updates") and response.request.method == "GET")

    with page.expect_response(read_again, timeout=90_000):
        page.get_by_test_id("check-now").click()
        expect(page.get_by_text("Check started; the list refreshes when it ends.")).to_be_visible()
    expect(group.get_by_test_id("update-kind")).to_have_text(["patch", "minor", "major"])

    page.get_by_role("link", name="Apps", exact=True).first.click()
    expect(page.get_by_test_id(f"update-badge-{seeded.app}")).to_have_text("major update")
    _shot(page, "apps-list")
    page.goto(f"{stack.url}/apps/{seeded.app}")
    expect(page.get_by_test_id(f"update-badge-{seeded.app}")).to_have_text("major update")


def test_a_viewer_sees_the_list_and_no_button(
    stack: Stack, new_page: Any, seeded: Seeded, viewer: tuple[str, str]
) -> None:
    page: Page = new_page()
    sign_in(page, stack.url, *viewer)
    page.goto(f"{stack.url}/updates")
    group = page.get_by_test_id(f"updates-{seeded.app}")
    expect(group.get_by_test_id("update-kind")).to_have_text(["patch", "minor", "major"])
    expect(page.get_by_test_id("check-now")).to_have_count(0)
    expect(page.get_by_test_id("update-all")).to_have_count(0)
    expect(page.get_by_test_id(f"update-{seeded.app}")).to_have_count(0)
    expect(page.locator("main").get_by_role("button")).to_have_count(0)
    _shot(page, "viewer")


def test_update_runs_to_success_on_the_deployments_live_page(
    stack: Stack, page: Page, seeded: Seeded
) -> None:
    sign_in(page, stack.url, "admin", stack.admin_password())
    page.goto(f"{stack.url}/updates")
    page.get_by_test_id(f"update-{seeded.app}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_test_id("update-changes")).to_contain_text("1.0.0 → 1.1.0")
    expect(dialog.get_by_test_id("allow-major")).not_to_be_checked()
    dialog.get_by_role("button", name="Update", exact=True).click()
    page.wait_for_url(f"{stack.url}/apps/{seeded.app}/deployments/*")
    expect(page.get_by_test_id("deployment-kind")).to_have_text("Update from v1 to v2")
    expect(page.get_by_test_id("update-change")).to_have_text("web 1.0.0 → 1.1.0")
    expect(page.get_by_test_id("deployment-status")).to_have_text("succeeded", timeout=DEPLOY_TIMEOUT)
    _shot(page, "deployment")
    r = httpx.get(f"http://127.0.0.1:{seeded.port}/version", timeout=10)
    assert r.text == "web 1.1.0\n"


HEALTH_COMPOSE = """\
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


@pytest.fixture
def good_and_sick(stack: Stack, admin_token: str, seeded: Seeded) -> Iterator[tuple[str, str]]:
    """Two more apps on the seeded registry: `ok` 1.0.0 → 1.0.1 stays healthy, `sick` 1.0.0 → 1.1.0
    lacks the word its healthcheck looks for; then a check."""
    client = docker_client()
    suffix = uuid.uuid4().hex[:6]
    names = {"ok": f"updok{suffix}", "sick": f"updsick{suffix}"}
    try:
        for repository, tag, content in (
            ("ok", "1.0.0", "ok 1.0.0 healthy\n"), ("ok", "1.0.1", "ok 1.0.1 healthy\n"),
            ("sick", "1.0.0", "sick 1.0.0 healthy\n"), ("sick", "1.1.0", "sick 1.1.0 not well\n"),
        ):  # fmt: skip
            reference = seeded.registry.image(f"appos-e2e/{repository}", tag)
            push_image(client, reference, content=content)
            client.images.remove(reference, force=True)  # the engine pulls what the apps run
        for repository, app in names.items():
            image = seeded.registry.image(f"appos-e2e/{repository}", "1.0.0")
            compose = HEALTH_COMPOSE.format(image=image, port=free_port())
            _, deployment = stack.deploy(admin_token, {"name": app, "compose": compose})
            assert deployment["status"] == "succeeded", deployment
        check_and_wait(stack, admin_token)
        yield names["ok"], names["sick"]
    finally:
        for app in names.values():
            with stack.client(admin_token) as c:
                r = c.delete(f"/api/v1/apps/{app}", params={"remove_volumes": "true"})
            if r.status_code == 202:
                stack.wait_deployment(admin_token, r.json()["deployment"]["id"])
        client.close()


def test_update_all_goes_on_past_a_failure_and_the_summary_names_it(
    stack: Stack, page: Page, good_and_sick: tuple[str, str]
) -> None:
    ok, sick = good_and_sick
    sign_in(page, stack.url, "admin", stack.admin_password())
    page.goto(f"{stack.url}/updates")
    expect(page.get_by_test_id(f"updates-{sick}")).to_be_visible()
    page.get_by_test_id("update-all").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(ok)
    expect(dialog).to_contain_text(sick)
    dialog.get_by_role("button", name=re.compile(r"^Update \d+ apps?$")).click()
    summary = page.get_by_test_id("update-all-summary")
    expect(summary.get_by_test_id(f"update-all-{ok}")).to_contain_text("succeeded", timeout=DEPLOY_TIMEOUT)
    expect(summary.get_by_test_id(f"update-all-{sick}")).to_contain_text("failed —", timeout=DEPLOY_TIMEOUT)
    expect(summary.get_by_test_id(f"update-all-{sick}")).to_contain_text("rolled back")
    expect(summary.get_by_test_id("update-all-words")).to_contain_text(f"Failed: {sick} (")
    expect(summary.get_by_test_id("update-all-words")).not_to_contain_text(f"{ok} (")
    # the update checked its app again: nothing is newer than 1.0.1, so its findings are gone, and
    # none describes what an app ran before it was updated
    expect(page.get_by_test_id(f"updates-{ok}")).to_have_count(0)
    expect(page.get_by_test_id("last-check")).not_to_contain_text("Some apps were updated since")
    expect(page.get_by_test_id(f"updates-{sick}")).to_be_visible()  # rolled back: still runs 1.0.0
    _shot(page, "update-all")
