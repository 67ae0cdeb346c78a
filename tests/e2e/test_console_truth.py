"""The console tells the truth (issue 17), in real Chromium against the real stack: the audit
filter finds what the table shows, and a compose edit is not lost by leaving the page.

The REST API sets up (users, an app) and checks what the UI did. All tests run on the browser's
xdist worker, as in tests/e2e/test_dashboard.py."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.e2e.browser import append_to_editor, nav_link, open_app, open_tab, replace_editor, sign_in
from tests.harness import Stack, free_port

pytestmark = [pytest.mark.xdist_group("browser")]


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def app(stack: Stack, admin_token: str, busybox_image: str) -> Iterator[str]:
    """A deployed busybox-httpd app these tests share (one deploy for the module)."""
    name = _name("ct")
    _, deployment = stack.deploy(
        admin_token,
        {
            "name": name,
            "template": "busybox-httpd",
            "settings": {"HTTP_PORT": str(free_port()), "MESSAGE": "truth"},
        },
    )
    assert deployment["status"] == "succeeded", f"{deployment['status']}: {deployment.get('reason')}"
    yield name
    stack.act(admin_token, name, "remove", remove_volumes="true")


@pytest.fixture
def new_user(stack: Stack, admin_token: str) -> Iterator[str]:
    """A user the admin creates through the API: one `Auth.CreateUser` entry in the audit log."""
    username = _name("aud")
    with stack.client(admin_token) as c:
        r = c.post(
            "/api/v1/users", json={"username": username, "password": f"pw-{uuid.uuid4()}", "role": "viewer"}
        )
    assert r.status_code == 200, r.text
    yield username
    with stack.client(admin_token) as c:
        c.delete(f"/api/v1/users/{username}")


def test_the_audit_filter_finds_the_action_as_the_table_shows_it(
    stack: Stack, new_user: str, page: Page
) -> None:
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Audit").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    made = page.get_by_role("row").filter(has_text=new_user)
    expect(made.first).to_contain_text("Auth.CreateUser")  # how the table shows the action

    # the filters offer what the table shows
    choices = page.get_by_test_id("audit-action-choices").locator("option[value='Auth.CreateUser']")
    expect(choices).to_have_count(1)
    expect(page.get_by_test_id("audit-user-choices").locator("option[value='admin']")).to_have_count(1)

    page.get_by_label("Action").fill("Auth.CreateUser")
    page.get_by_label("User").fill("admin")
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(page.get_by_text("No entries.")).to_have_count(0)
    expect(made).to_have_count(1)
    expect(page.get_by_role("row").filter(has_text="Auth.Login")).to_have_count(0)
    for row in page.get_by_role("row").filter(has_text="Auth.").all():
        expect(row).to_contain_text("Auth.CreateUser")

    page.get_by_label("Action").fill("Auth")  # a dotted prefix, as shown: every Auth action
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(made).to_have_count(1)
    expect(page.get_by_role("row").filter(has_text="Apps.")).to_have_count(0)


# ---- unsaved compose edits ---------------------------------------------------------------------


def test_leaving_the_new_app_form_with_a_name_typed_asks_first(stack: Stack, page: Page) -> None:
    sign_in(page, stack.url, "admin", stack.admin_password())
    page.goto(stack.url + "/new-app")
    nav_link(page, "Apps").click()  # nothing typed: no question
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("heading", name="Apps")).to_be_visible()
    page.goto(stack.url + "/new-app")
    page.get_by_label("App name").fill("half-typed")
    nav_link(page, "Apps").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Leave without saving?")
    expect(dialog).to_contain_text("the new app's files are lost")
    dialog.get_by_role("button", name="Stay", exact=True).click()
    expect(page.get_by_label("App name")).to_have_value("half-typed")
    nav_link(page, "Apps").click()
    dialog.get_by_role("button", name="Leave and lose the new app's files", exact=True).click()
    expect(page.get_by_role("heading", name="Apps")).to_be_visible()


def test_leaving_the_compose_tab_with_unsaved_edits_asks_first(stack: Stack, app: str, page: Page) -> None:
    sign_in(page, stack.url, "admin", stack.admin_password())
    open_app(page, stack.url, app)
    open_tab(page, "Compose")
    editor = page.get_by_test_id("compose-editor").locator(".cm-content")
    expect(editor).to_contain_text("services:")
    page.get_by_role("tab", name="Overview", exact=True).click()  # no edits: no question
    expect(page.get_by_role("dialog")).to_have_count(0)
    open_tab(page, "Compose")

    append_to_editor(page, "compose-editor", "\n# not saved yet\n")
    page.get_by_role("tab", name="Overview", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Leave without saving?")
    dialog.get_by_role("button", name="Stay", exact=True).click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_role("tab", name="Compose", exact=True)).to_have_attribute("aria-selected", "true")
    expect(editor).to_contain_text("# not saved yet")

    nav_link(page, "Audit").click()  # another page of the console asks too
    expect(dialog).to_contain_text("Leave without saving?")
    dialog.get_by_role("button", name="Stay", exact=True).click()
    expect(editor).to_contain_text("# not saved yet")

    asked: list[str] = []  # a reload or a closed tab: the browser's own question

    def dismiss(question: Dialog) -> None:
        asked.append(question.type)
        question.dismiss()

    page.on("dialog", dismiss)
    with page.expect_event("dialog"):
        page.close(run_before_unload=True)
    assert asked == ["beforeunload"] and not page.is_closed()
    expect(editor).to_contain_text("# not saved yet")

    page.get_by_role("tab", name="Overview", exact=True).click()
    dialog.get_by_role("button", name="Leave and lose your compose edits", exact=True).click()
    expect(page.get_by_role("tab", name="Overview", exact=True)).to_have_attribute("aria-selected", "true")


# ---- no false drift after Save and deploy ------------------------------------------------------


def test_save_and_deploy_twice_shows_no_hand_edits(
    stack: Stack, admin_token: str, app: str, page: Page
) -> None:
    """The second deployment waits for the first (8 s to become healthy), so when the page reloads the
    compose after the second save the disk still holds an older version: not an edit by hand."""
    with stack.client(admin_token) as c:
        current = c.get(f"/api/v1/apps/{app}/compose").json()
    slow = current["compose"].replace('["sh", "-c", "', '["sh", "-c", "sleep 8 && ')
    assert slow != current["compose"]
    sign_in(page, stack.url, "admin", stack.admin_password())
    open_app(page, stack.url, app)
    open_tab(page, "Compose")
    expect(page.get_by_test_id("compose-editor").locator(".cm-content")).to_contain_text("services:")
    replace_editor(page, "compose-editor", slow)
    page.get_by_role("button", name="Save and deploy", exact=True).click()
    expect(page.get_by_text(re.compile(r"^Version 2\b"))).to_be_visible()
    append_to_editor(page, "compose-editor", "# v3\n")
    page.get_by_role("button", name="Save and deploy", exact=True).click()
    expect(page.get_by_text(re.compile(r"^Version 3\b"))).to_be_visible()
    expect(page.get_by_text("edited by hand")).to_have_count(0)
    follow = page.get_by_role("link", name="Follow the deployment")
    expect(follow).to_be_visible()
    deployment = follow.get_attribute("href") or ""
    finished = stack.wait_deployment(admin_token, deployment.rsplit("/", 1)[-1])
    assert finished["status"] == "succeeded", finished
    page.reload()
    expect(page.get_by_text(re.compile(r"^Version 3\b"))).to_be_visible()
    expect(page.get_by_text("edited by hand")).to_have_count(0)


# ---- deploy a saved version --------------------------------------------------------------------


def test_a_saved_version_is_deployed_with_one_click(
    stack: Stack, admin_token: str, app: str, page: Page
) -> None:
    sign_in(page, stack.url, "admin", stack.admin_password())
    open_app(page, stack.url, app)
    open_tab(page, "Compose")
    expect(page.get_by_test_id("compose-editor").locator(".cm-content")).to_contain_text("services:")
    append_to_editor(page, "compose-editor", "# saved, not deployed\n")
    page.get_by_role("button", name="Save", exact=True).click()
    saved = page.get_by_text(re.compile(r"Saved version (\d+)"))
    expect(saved).to_be_visible()
    number = int(re.findall(r"Saved version (\d+)", saved.inner_text())[0])
    running = _app(stack, admin_token, app)
    assert running["current_version"] == number and running["last_good_version"] < number, running

    notice = page.get_by_test_id("undeployed-version")
    expect(notice).to_contain_text(f"Version {number} is saved, not deployed")
    expect(notice).to_contain_text(f"Version {running['last_good_version']} is the last one deployed")
    # nothing to save: the way to deploy it is the one button, not a refused "Save and deploy"
    expect(page.get_by_role("button", name="Save and deploy", exact=True)).to_be_disabled()
    notice.get_by_role("button", name=f"Deploy v{number}", exact=True).click()
    follow = page.get_by_role("link", name="Follow the deployment")
    expect(follow).to_be_visible()
    deployment = stack.wait_deployment(admin_token, (follow.get_attribute("href") or "").rsplit("/", 1)[-1])
    assert deployment["status"] == "succeeded" and deployment["version"] == number, deployment
    assert _app(stack, admin_token, app)["last_good_version"] == number
    page.reload()
    expect(page.get_by_test_id("compose-editor").locator(".cm-content")).to_contain_text(
        "saved, not deployed"
    )
    expect(page.get_by_test_id("undeployed-version")).to_have_count(0)


def _app(stack: Stack, token: str, app: str) -> dict[str, Any]:
    with stack.client(token) as c:
        r = c.get(f"/api/v1/apps/{app}")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found
