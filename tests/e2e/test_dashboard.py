"""The dashboard in real Chromium against a real stack with real Docker (the busybox test
templates in tests/templates): what issue 9 lists, as a user does it in the browser.

Selectors follow the dashboard's contract (labels, roles and data-testid values; see
tests/e2e/browser.py). All tests run on one xdist worker (one browser)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import (
    PHONE,
    append_to_editor,
    choose_service,
    confirm_dialog,
    horizontal_overflow,
    nav_link,
    open_app,
    open_tab,
    sign_in,
)
from tests.e2e.conftest import NewPage
from tests.harness import Stack, free_port

pytestmark = [pytest.mark.xdist_group("browser"), pytest.mark.usefixtures("busybox_image")]

TEMPLATE = "busybox-httpd"
TEMPLATE_TITLE = "Busybox httpd (test)"
DEPLOY_TIMEOUT = 120_000  # ms: a deployment's whole run, in the browser's clock
MUTATING = [
    "Deploy",
    "Start",
    "Stop",
    "Restart",
    "Redeploy",
    "Remove",
    "Save",
    "Save and deploy",
    "Roll back",
]


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


@contextmanager
def deployed_app(stack: Stack, token: str, prefix: str, message: str) -> Iterator[str]:
    """A busybox-httpd app deployed through the REST API, removed afterwards."""
    app = _name(prefix)
    _, deployment = stack.deploy(
        token,
        {"name": app, "template": TEMPLATE, "settings": {"HTTP_PORT": str(free_port()), "MESSAGE": message}},
    )
    assert deployment["status"] == "succeeded", f"{deployment['status']}: {deployment.get('reason')}"
    try:
        yield app
    finally:
        stack.act(token, app, "remove", remove_volumes="true")


@pytest.fixture(scope="module")
def app(stack: Stack, admin_token: str, busybox_image: str) -> Iterator[str]:
    with deployed_app(stack, admin_token, "ui", "hello-e2e") as name:
        yield name


@pytest.fixture(scope="module")
def viewer(stack: Stack, admin_token: str) -> tuple[str, str]:
    username, password = _name("viewer"), "viewer-password-e2e"
    with stack.client(admin_token) as c:
        r = c.post("/api/v1/users", json={"username": username, "password": password, "role": "viewer"})
    assert r.status_code == 200, r.text
    return username, password


def _api(stack: Stack, token: str, path: str) -> Any:
    with stack.client(token) as c:
        r = c.get(path)
    assert r.status_code == 200, r.text
    return r.json()


def test_log_in_and_sign_out(stack: Stack, page: Page) -> None:
    page.goto(stack.url + "/")
    expect(page.get_by_label("Username")).to_be_visible()  # not signed in: the login form
    sign_in(page, stack.url, "admin", stack.admin_password())
    for link in ("Catalog", "Apps", "Domains", "Users", "Tokens"):
        expect(nav_link(page, link)).to_be_visible()
    page.reload()
    expect(nav_link(page, "Apps")).to_be_visible()  # the session survives a reload
    token = page.evaluate("localStorage.getItem('appos_token')")
    assert token
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    assert page.evaluate("localStorage.getItem('appos_token')") is None
    with stack.client(token) as c:  # signing out ended the session on the server too
        r = c.get("/api/v1/auth/me")
    assert r.status_code == 401 and "signed out" in r.json()["message"], r.text


def test_a_bad_login_shows_an_error(stack: Stack, page: Page) -> None:
    page.goto(stack.url + "/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).not_to_have_text(re.compile(r"^\s*$"))
    expect(page.get_by_label("Password")).to_be_visible()  # still on the login form
    expect(nav_link(page, "Apps")).to_have_count(0)


def test_deploy_a_catalog_template_and_see_it_running(stack: Stack, admin_token: str, page: Page) -> None:
    app, port = _name("cat"), free_port()
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Catalog").click()
    page.get_by_label("Search templates").fill("busybox")
    page.get_by_role("link", name=re.compile(re.escape(TEMPLATE_TITLE))).first.click()
    page.get_by_label("App name").fill(app)
    page.get_by_label("HTTP_PORT").fill(str(port))
    page.get_by_label("MESSAGE").fill("deployed from the browser")
    page.get_by_role("button", name="Deploy", exact=True).click()
    try:
        page.wait_for_url(re.compile(rf"/apps/{app}/deployments/[^/?#]+"))
        status = page.get_by_test_id("deployment-status")
        expect(status).to_contain_text("succeeded", ignore_case=True, timeout=DEPLOY_TIMEOUT)
        expect(page.get_by_test_id("deployment-log")).to_contain_text(f"appos-{app}-web-1")  # compose

        nav_link(page, "Apps").click()
        expect(page.get_by_role("link", name=app, exact=True)).to_be_visible()
        expect(page.get_by_test_id(f"app-status-{app}")).to_contain_text("running", ignore_case=True)
        page.get_by_role("link", name=app, exact=True).click()
        expect(page.get_by_test_id("app-status")).to_contain_text("running", ignore_case=True)
        expect(page.get_by_text(f"127.0.0.1:{port}").first).to_be_visible()  # the published port
        assert _api(stack, admin_token, f"/api/v1/apps/{app}")["status"] == "running"
    finally:
        with stack.client(admin_token) as c:
            exists = c.get(f"/api/v1/apps/{app}").status_code == 200
        if exists:
            stack.act(admin_token, app, "remove", remove_volumes="true")


def test_open_logs(stack: Stack, app: str, page: Page) -> None:
    sign_in(page, stack.url, "admin", stack.admin_password())
    open_app(page, stack.url, app)
    open_tab(page, "Logs")
    expect(page.get_by_test_id("log-view")).to_contain_text("serving hello-e2e", timeout=30_000)


def test_edit_the_compose_view_the_diff_and_roll_back(stack: Stack, admin_token: str, page: Page) -> None:
    marker = f"# edited in the browser {uuid.uuid4().hex[:6]}"
    with deployed_app(stack, admin_token, "ed", "before-edit") as app:
        v1 = _api(stack, admin_token, f"/api/v1/apps/{app}/versions/1")
        sign_in(page, stack.url, "admin", stack.admin_password())
        open_app(page, stack.url, app)
        open_tab(page, "Compose")
        editor = page.get_by_test_id("compose-editor")
        expect(editor.locator(".cm-content")).to_contain_text("services:")
        expect(page.get_by_test_id("env-editor").locator(".cm-content")).to_contain_text("HTTP_PORT=")
        append_to_editor(page, "compose-editor", f"\n{marker}\n")
        page.get_by_label("Change message").fill("comment from the e2e test")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_text("Saved version 2")).to_be_visible()
        v2 = _api(stack, admin_token, f"/api/v1/apps/{app}/versions/2")
        assert marker in v2["compose"] and v2["message"] == "comment from the e2e test"

        open_tab(page, "History")
        expect(page.get_by_test_id("version-2")).to_be_visible()
        page.get_by_test_id("version-2").get_by_role("button", name="Diff", exact=True).click()
        expect(page.get_by_test_id("diff-view")).to_contain_text(marker)

        page.get_by_test_id("version-1").get_by_role("button", name="Roll back", exact=True).click()
        confirm_dialog(page)  # the dashboard may show the rollback's deployment: History lists v3
        if page.get_by_role("tab", name="History", exact=True).get_attribute("aria-selected") != "true":
            open_tab(page, "History")
        expect(page.get_by_test_id("version-3")).to_be_visible()
        v3 = _api(stack, admin_token, f"/api/v1/apps/{app}/versions/3")
        assert v3["source"] == "rollback" and v3["compose"] == v1["compose"] and marker not in v3["compose"]
        assert v3["deployment_id"], v3
        assert stack.wait_deployment(admin_token, v3["deployment_id"])["status"] == "succeeded"


def test_terminal_runs_a_command(stack: Stack, app: str, page: Page) -> None:
    sign_in(page, stack.url, "admin", stack.admin_password())
    open_app(page, stack.url, app)
    open_tab(page, "Terminal")
    choose_service(page, "web")
    page.get_by_role("button", name="Connect", exact=True).click()
    terminal = page.get_by_test_id("terminal")
    rows = terminal.locator(".xterm-rows")
    expect(rows).to_be_visible()
    terminal.click()
    page.keyboard.type("echo e2e-$((6*7))-done")
    page.keyboard.press("Enter")
    # The shell computed it: the echoed command line shows $((6*7)), only the output shows 42.
    expect(rows).to_contain_text("e2e-42-done", timeout=30_000)


def test_a_viewer_sees_no_mutating_buttons(
    stack: Stack, app: str, viewer: tuple[str, str], page: Page
) -> None:
    username, password = viewer
    sign_in(page, stack.url, username, password)

    def no_mutating_buttons(where: str) -> None:
        for name in MUTATING:
            count = page.get_by_role("button", name=name, exact=True).count()
            assert count == 0, f"a viewer sees the {name!r} button on {where} ({page.url})"

    nav_link(page, "Catalog").click()
    page.get_by_label("Search templates").fill("busybox")
    page.get_by_role("link", name=re.compile(re.escape(TEMPLATE_TITLE))).first.click()
    expect(page.get_by_role("heading", name=re.compile(re.escape(TEMPLATE_TITLE))).first).to_be_visible()
    no_mutating_buttons("the template page")

    open_app(page, stack.url, app)
    expect(page.get_by_test_id("app-status")).to_contain_text("running", ignore_case=True)
    no_mutating_buttons("the app's overview")

    open_tab(page, "Compose")
    expect(page.get_by_test_id("compose-editor").locator(".cm-content")).to_contain_text("services:")
    no_mutating_buttons("the compose tab")

    open_tab(page, "History")
    expect(page.get_by_test_id("version-1")).to_be_visible()
    no_mutating_buttons("the history tab")


def test_phone_width_login_and_apps_fit_the_screen(stack: Stack, app: str, new_page: NewPage) -> None:
    page = new_page(PHONE)
    page.goto(stack.url + "/")
    expect(page.get_by_label("Username")).to_be_visible()
    _assert_fits(page, "the login page")
    sign_in(page, stack.url, "admin", stack.admin_password())
    page.goto(stack.url + "/apps")
    expect(page.get_by_role("link", name=app, exact=True)).to_be_visible()
    expect(page.get_by_test_id(f"app-status-{app}")).to_be_visible()
    _assert_fits(page, "the apps page")


def _assert_fits(page: Page, where: str) -> None:
    measured = horizontal_overflow(page)
    assert measured["scroll_width"] <= measured["viewport"], (
        f"{where} is wider than the phone's screen: {measured}"
    )
