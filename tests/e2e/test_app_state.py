"""An app's state comes from the server (issue 17), in real Chromium against the real stack: a
failed app says so with its reason, also after a reload, and offers only the actions that can work;
a rollback, automatic or not, is labelled as one with the versions it went from and to.

These tests also write the screenshots docs/screenshots/failed-app.png and docs/screenshots/app.png."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import nav_link, open_app, open_tab, sign_in
from tests.harness import ROOT, Stack, free_port

pytestmark = [pytest.mark.xdist_group("browser")]

SCREENSHOTS = ROOT / "docs" / "screenshots"
RAW_ID = re.compile(r"\b[0-9a-f]{32}\b")
# An image that is not here and may not be pulled: the deploy fails before any container exists.
MISSING_IMAGE = "services:\n  web:\n    image: appos-test/missing:nope\n    pull_policy: never\n"


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def _get(stack: Stack, token: str, path: str) -> Any:
    with stack.client(token) as c:
        r = c.get(path)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def failed_app(stack: Stack, admin_token: str, docker_engine: None) -> Iterator[str]:
    name = _name("fa")
    _, deployment = stack.deploy(admin_token, {"name": name, "compose": MISSING_IMAGE, "env": ""})
    assert deployment["status"] == "failed", deployment
    yield name
    stack.remove_app(admin_token, name)


@pytest.fixture
def web_app(stack: Stack, admin_token: str, busybox_image: str) -> Iterator[str]:
    name = _name("rb")
    settings = {"HTTP_PORT": str(free_port()), "MESSAGE": "v1"}
    body = {"name": name, "template": "busybox-httpd", "settings": settings}
    _, deployment = stack.deploy(admin_token, body)
    assert deployment["status"] == "succeeded", deployment
    yield name
    stack.remove_app(admin_token, name)


def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(SCREENSHOTS / name)), full_page=True)


def test_a_failed_app_says_so_with_its_reason_after_a_reload(
    stack: Stack, admin_token: str, failed_app: str, page: Page
) -> None:
    app = _get(stack, admin_token, f"/api/v1/apps/{failed_app}")
    assert app["status"] == "failed" and app["status_message"], app  # not "stopped / no containers"
    assert app["last_deployment"]["status"] == "failed"

    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Apps").click()
    expect(page.get_by_test_id(f"app-status-{failed_app}")).to_have_text("failed")

    open_app(page, stack.url, failed_app)
    for _ in range(2):  # as the page loads, and again after a reload: it comes from the server
        expect(page.get_by_test_id("app-status")).to_have_text("failed")
        card = page.get_by_test_id("app-failed")
        expect(card).to_contain_text("This app failed to deploy and never ran")
        expect(card).to_contain_text(app["status_message"])
        expect(card.get_by_role("link", name="View the log")).to_be_visible()
        expect(card.get_by_role("link", name="Edit compose")).to_be_visible()
        expect(card.get_by_role("button", name="Retry")).to_be_enabled()
        # it never ran: nothing to start, stop or restart
        for label in ("Start", "Stop", "Restart"):
            expect(page.get_by_role("button", name=label, exact=True)).to_be_disabled()
        expect(page.get_by_role("button", name="Redeploy", exact=True)).to_be_enabled()
        expect(page.get_by_test_id("undeployed-version")).to_have_count(0)
        page.reload()
    expect(page.get_by_test_id("app-failed")).to_be_visible()
    _screenshot(page, "failed-app.png")


def test_a_rollback_is_labelled_as_one_with_its_versions(
    stack: Stack, admin_token: str, web_app: str, page: Page
) -> None:
    # v2 fails to start; AppOS rolls back to v1 (as v3)
    with stack.client(admin_token) as c:
        r = c.get(f"/api/v1/apps/{web_app}/compose")
        current, etag = r.json(), r.headers["etag"]
        broken = (
            current["compose"]
            .replace('exec httpd -f -p 8080 -h /www"]', 'exit 3"]')
            .replace("restart: unless-stopped", 'restart: "no"')
        )
        assert broken != current["compose"]
        r = c.put(
            f"/api/v1/apps/{web_app}/compose",
            json={"compose": broken, "env": current["env"], "message": "break it"},
            headers={"If-Match": etag},
            params={"deploy": "true"},
        )
    assert r.status_code == 200, r.text
    failed = stack.wait_deployment(admin_token, r.json()["deployment"]["id"])
    assert failed["status"] == "failed" and not RAW_ID.search(failed["reason"]), failed
    versions = _get(stack, admin_token, f"/api/v1/apps/{web_app}/versions")["versions"]
    rollback = stack.wait_deployment(admin_token, versions[0]["deployment_id"])
    assert rollback["status"] == "succeeded", rollback
    assert (rollback["source"], rollback["rollback_from"], rollback["rollback_to"]) == ("auto_rollback", 2, 1)
    assert rollback["rollback_cause"] == "service web exited with code 3", rollback

    sign_in(page, stack.url, "admin", stack.admin_password())
    open_app(page, stack.url, web_app)
    expect(page.get_by_test_id("app-status")).to_have_text("running")
    note = page.get_by_test_id("app-rolled-back")
    expect(note).to_contain_text("Rolled back automatically to version 1")
    expect(note).to_contain_text("because version 2 failed to deploy: service web exited with code 3")
    # a running app: Stop and Restart work, Start does not
    expect(page.get_by_role("button", name="Start", exact=True)).to_be_disabled()
    expect(page.get_by_role("button", name="Stop", exact=True)).to_be_enabled()
    expect(page.get_by_role("button", name="Restart", exact=True)).to_be_enabled()
    _screenshot(page, "app.png")

    nav_link(page, "Apps").click()
    expect(page.get_by_test_id(f"app-notes-{web_app}")).to_contain_text("rolled back automatically to v1")

    # and by hand, back to v1 (as v4)
    with stack.client(admin_token) as c:
        r = c.post(f"/api/v1/apps/{web_app}/rollback", json={"version": 1})
    assert r.status_code == 202, r.text
    manual = stack.wait_deployment(admin_token, r.json()["deployment"]["id"])
    assert (manual["source"], manual["rollback_from"], manual["rollback_to"]) == ("rollback", 3, 1)

    open_app(page, stack.url, web_app)
    open_tab(page, "Deployments")
    rows = page.get_by_role("row")
    expect(rows.filter(has_text="Rollback from v3 to v1")).to_have_count(1)
    expect(rows.filter(has_text="Automatic rollback from v2 to v1")).to_have_count(1)
    expect(page.get_by_role("main")).not_to_contain_text(RAW_ID)
    open_tab(page, "History")
    expect(page.get_by_test_id("version-4")).to_contain_text("rollback from v3 to v1")
    expect(page.get_by_test_id("version-3")).to_contain_text("automatic rollback from v2 to v1")
    expect(page.get_by_role("main")).not_to_contain_text(RAW_ID)
