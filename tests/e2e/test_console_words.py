"""Issue 17, "controls and words that follow the state", in real Chromium: the overview home page,
the app's tabs at phone width, the logs' tools, and the screenshots the README shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import PHONE, horizontal_overflow, open_app, open_tab, sign_in
from tests.e2e.conftest import NewPage
from tests.e2e.test_dashboard import deployed_app
from tests.harness import Stack

pytestmark = [pytest.mark.xdist_group("browser"), pytest.mark.usefixtures("busybox_image")]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TABS = ["Overview", "Logs", "Compose", "History", "Deployments", "Terminal"]


def test_the_home_page_is_an_overview(stack: Stack, admin_token: str, page: Page) -> None:
    with deployed_app(stack, admin_token, "ov", "overview"):
        sign_in(page, stack.url, "admin", stack.admin_password())
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        for metric in ("host-cpu", "host-memory", "host-disk"):
            expect(page.get_by_test_id(metric)).to_contain_text("%")
        expect(page.get_by_role("img", name="CPU, last hour")).to_be_visible()
        expect(page.get_by_test_id("apps-by-status")).to_contain_text("running")
        expect(page.get_by_role("heading", name="Failed deployments")).to_be_visible()
        expect(page.get_by_role("heading", name="Certificates")).to_be_visible()
        # the sidebar spans the page's full height: in view, and its column down to the page's end
        box = page.locator("aside").bounding_box()
        assert box is not None and box["height"] >= page.viewport_size["height"] - 1  # type: ignore[index]
        column = page.locator("aside").locator("xpath=..").bounding_box()
        page_height = page.evaluate("document.documentElement.scrollHeight")
        assert column is not None and column["height"] >= page_height - 1, (column, page_height)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "overview.png"))


def test_every_app_tab_is_reachable_on_a_phone(stack: Stack, admin_token: str, new_page: NewPage) -> None:
    page = new_page(PHONE)
    with deployed_app(stack, admin_token, "ph", "phone") as app:
        sign_in(page, stack.url, "admin", stack.admin_password())
        open_app(page, stack.url, app)
        tabs = page.get_by_test_id("app-tabs")
        expect(tabs).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "app-phone.png"), full_page=True)
        for name in reversed(TABS):  # the last ones are beyond the screen's edge at first
            open_tab(page, name)
            tab = page.get_by_role("tab", name=name, exact=True)
            expect(tab).to_have_attribute("data-state", "active")
            expect(tab).to_be_in_viewport()
        overflow = horizontal_overflow(page)
        assert overflow["scroll_width"] <= overflow["viewport"], overflow  # the tabs scroll, not the page


def test_logs_have_timestamps_wrap_search_and_download(stack: Stack, admin_token: str, page: Page) -> None:
    with deployed_app(stack, admin_token, "lg", "logs") as app:
        sign_in(page, stack.url, "admin", stack.admin_password())
        open_app(page, stack.url, app)
        open_tab(page, "Logs")
        log = page.get_by_test_id("log-view")
        expect(log.get_by_test_id("log-line").first).to_be_visible(timeout=30_000)
        expect(log.get_by_test_id("log-time")).to_have_count(0)
        page.get_by_label("Timestamps").check()
        expect(log.get_by_test_id("log-time").first).to_be_visible()
        page.get_by_label("Wrap lines").uncheck()
        expect(log).to_have_attribute("data-wrap", "off")
        page.get_by_label("Search").fill("no such text anywhere")
        expect(log).to_contain_text("No line matches the search.")
        page.get_by_label("Search").fill("")
        with page.expect_download() as download:
            page.get_by_role("button", name="Download").click()
        assert download.value.suggested_filename == f"{app}-logs.txt"
