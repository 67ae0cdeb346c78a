"""Errors a person can act on (issue 17), in real Chromium against the real stack: a plain summary
first, the server's words on demand (a <details>), and the next step as buttons. A failed pull says
which image and offers Edit compose / Retry / Remove; a host port already in use is refused before
anything is created, naming the port and who holds it. Nothing leaves loopback: the missing image's
registry is 127.0.0.1:1, where nothing listens."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import nav_link, replace_editor, sign_in
from tests.harness import Stack, free_port

pytestmark = [pytest.mark.xdist_group("browser")]

MISSING = "127.0.0.1:1/appos-missing:nope"
UNPULLABLE = f"services:\n  web:\n    image: {MISSING}\n"
INTERNAL_WORDS = re.compile(r"gaierror|ConnectError|invalid_argument|failed_precondition|request id")


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


@pytest.fixture
def unpullable_app(stack: Stack, admin_token: str, docker_engine: None) -> Iterator[tuple[str, str]]:
    name = _name("pull")
    _, deployment = stack.deploy(admin_token, {"name": name, "compose": UNPULLABLE, "env": ""})
    assert deployment["status"] == "failed", deployment
    yield name, deployment["id"]
    stack.remove_app(admin_token, name)


def test_a_failed_pull_says_which_image_with_the_next_steps_as_buttons(
    stack: Stack, admin_token: str, unpullable_app: tuple[str, str], page: Page
) -> None:
    app, deployment_id = unpullable_app
    with stack.client(admin_token) as c:
        reason = c.get(f"/api/v1/deployments/{deployment_id}").json()["reason"]
    assert f"image {MISSING} was not found or the registry cannot be reached" in reason, reason

    sign_in(page, stack.url, "admin", stack.admin_password())
    page.goto(f"{stack.url}/apps/{app}/deployments/{deployment_id}")
    failure = page.get_by_test_id("deployment-failure")
    summary = failure.get_by_test_id("error-summary").first
    expect(summary).to_have_text(f"The image {MISSING} was not found, or its registry cannot be reached.")
    assert not INTERNAL_WORDS.search(summary.inner_text())
    detail = failure.get_by_test_id("error-detail").first
    expect(detail).to_be_hidden()  # on demand
    failure.get_by_text("Details", exact=True).first.click()
    expect(detail).to_be_visible()
    expect(detail).to_contain_text("Docker said")

    expect(failure.get_by_role("link", name="Edit compose")).to_be_visible()
    expect(failure.get_by_role("button", name="Remove", exact=True)).to_be_enabled()
    failure.get_by_role("button", name="Retry", exact=True).click()  # a redeploy: a new deployment
    page.wait_for_url(re.compile(rf"/apps/{app}/deployments/(?!{deployment_id})[^/?#]+$"))
    expect(page.get_by_test_id("deployment-status")).to_have_text("failed", timeout=60_000)
    expect(page.get_by_test_id("deployment-failure").get_by_test_id("error-summary").first).to_contain_text(
        MISSING
    )
    page.get_by_test_id("deployment-failure").get_by_role("link", name="Edit compose").click()
    page.wait_for_url(re.compile(rf"/apps/{app}/compose$"))


def test_a_taken_host_port_is_refused_naming_the_port_and_its_holder(
    stack: Stack, admin_token: str, page: Page
) -> None:
    app, port = _name("port"), free_port()
    compose = f'services:\n  web:\n    image: appos-test/busybox:latest\n    ports:\n      - "127.0.0.1:{port}:80"\n'  # noqa: E501
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Apps").click()
    page.get_by_role("link", name="New app from compose", exact=True).click()
    page.get_by_label("App name").fill(app)
    with socket.socket() as holder:  # another program on the server
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
        replace_editor(page, "new-compose-editor", compose)
        page.get_by_role("button", name="Create and deploy", exact=True).click()
        form = page.get_by_role("form", name="New app from compose")
        summary = form.get_by_role("alert").get_by_test_id("error-summary")
        expect(summary).to_have_text(
            f"Port {port} is already in use by another program on the server. Choose another host port."
        )
    assert not INTERNAL_WORDS.search(summary.inner_text())
    detail = form.get_by_role("alert").get_by_test_id("error-detail")
    expect(detail).to_contain_text(re.compile(r"request id \S+"))
    expect(page).to_have_url(re.compile(r"/new-app$"))  # still here, with what was typed
    with stack.client(admin_token) as c:
        assert c.get(f"/api/v1/apps/{app}").status_code == 404
