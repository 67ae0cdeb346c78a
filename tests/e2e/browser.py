"""Debian's Chromium driven by Playwright (Python; its bundled driver, never `playwright install`),
and the steps of the dashboard that several tests share.

The dashboard's selector contract (labels, roles, test ids) is what these helpers and
tests/e2e/test_dashboard.py use; nothing here reaches into the dashboard's internals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Locator, Page, Playwright, expect

from tests.harness import ROOT

CHROMIUM = Path("/usr/bin/chromium")
# DESIGN.md "Real parts": headless, no sandbox (root), nothing that reaches the network by itself.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DASHBOARD_DIST = ROOT / "dashboard" / "dist"
PLACEHOLDER = ROOT / "dashboard" / "placeholder" / "index.html"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def require_chromium() -> Path:
    assert CHROMIUM.exists(), (
        f"Chromium is not installed at {CHROMIUM}: the dashboard's end-to-end tests need it "
        "(apt-get install chromium; `make test` installs it through scripts/install-system-packages)"
    )
    return CHROMIUM


def require_dashboard_build() -> Path:
    index = DASHBOARD_DIST / "index.html"
    assert index.exists(), f"{index} is missing: build the dashboard first (`make dashboard`)"
    if PLACEHOLDER.exists():
        assert index.read_bytes() != PLACEHOLDER.read_bytes(), (
            f"{index} is the placeholder page, not the dashboard's build: run `make dashboard`"
        )
    return index


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless. Playwright gives every launch a fresh temporary profile
    (--user-data-dir), removed when the browser closes."""
    require_chromium()
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, chromium_sandbox=False
    )


# ---- steps -------------------------------------------------------------------------------------


def sign_in(page: Page, base_url: str, username: str, password: str) -> None:
    """Log in through the form and wait until it has gone (on a phone the navigation is behind a
    menu button, so the form's going is what every width shows)."""
    page.goto(base_url + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_label("Password")).to_have_count(0)
    # the console's own move away from /login has committed: a test's next page.goto cannot race it
    page.wait_for_url(lambda url: urlsplit(url).path != "/login")
    page.wait_for_load_state("load")


def nav_link(page: Page, name: str) -> Locator:
    return page.get_by_role("link", name=name, exact=True).first


def open_app(page: Page, base_url: str, app: str) -> None:
    page.goto(f"{base_url}/apps/{app}")
    expect(page).to_have_url(f"{base_url}/apps/{app}")  # says where the page went instead, if it did
    expect(page.get_by_role("tab", name="Overview")).to_be_visible()


def open_tab(page: Page, name: str) -> None:
    tab = page.get_by_role("tab", name=name, exact=True)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")


def _write_in_editor(page: Page, test_id: str, key: str, text: str) -> None:
    """Focus a CodeMirror 6 editor, press `key`, then insert `text` (insertText: no auto-indent)."""
    content = page.get_by_test_id(test_id).locator(".cm-content")
    expect(content).to_be_visible()
    content.click()
    page.keyboard.press(key)
    page.keyboard.insert_text(text)


def append_to_editor(page: Page, test_id: str, text: str) -> None:
    """Put `text` at the end of a CodeMirror 6 editor, as typed."""
    _write_in_editor(page, test_id, "Control+End", text)


def replace_editor(page: Page, test_id: str, text: str) -> None:
    """Replace all of a CodeMirror 6 editor's text, as a paste does."""
    _write_in_editor(page, test_id, "Control+a", text)


def confirm_dialog(page: Page) -> None:
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Confirm").click()
    expect(dialog).to_be_hidden()


def choose_service(page: Page, service: str) -> None:
    """The terminal's "Service" control: a native <select>, or an ARIA combobox with options."""
    control = page.get_by_label("Service")
    expect(control).to_be_visible()
    if control.evaluate("el => el.tagName") == "SELECT":
        control.select_option(service)
        return
    control.click()
    page.get_by_role("option", name=service, exact=True).click()


def terminal_text(page: Page) -> str:
    return str(page.get_by_test_id("terminal").locator(".xterm-rows").inner_text())


def horizontal_overflow(page: Page) -> dict[str, Any]:
    """How far the page is wider than the viewport, and the widest elements that make it so."""
    result: dict[str, Any] = page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const over = [];
            for (const el of document.querySelectorAll('body *')) {
                const r = el.getBoundingClientRect();
                if (r.width > 0 && r.right > width + 1) {
                    const name = `${el.tagName.toLowerCase()}.${el.className}`.slice(0, 80);
                    over.push(`${name} right=${r.right}`);
                }
            }
            return {
                viewport: width,
                scroll_width: document.documentElement.scrollWidth,
                body_scroll_width: document.body.scrollWidth,
                offenders: over.slice(0, 10),
            };
        }"""
    )
    return result
