"""The console tells the truth (issue 17), in real Chromium against the real stack: the audit
filter finds what the table shows, and a compose edit is not lost by leaving the page.

The REST API sets up (users, an app) and checks what the UI did. All tests run on the browser's
xdist worker, as in tests/e2e/test_dashboard.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import nav_link, sign_in
from tests.harness import Stack

pytestmark = [pytest.mark.xdist_group("browser")]


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


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
