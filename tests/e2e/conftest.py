"""Browser fixtures for the dashboard's end-to-end tests: one Debian Chromium per worker, a new
context (cookies, storage) per page, and on failure a screenshot, the page's HTML and its console
in tests/e2e/artifacts/<test>/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, WebSocket, expect, sync_playwright

from tests.e2e.browser import ARTIFACTS, DESKTOP, launch, require_dashboard_build

NewPage = Callable[..., Page]

_PAGES = pytest.StashKey[list[tuple[Page, list[str]]]]()
# The machine is small and shared: give every step room (deployments pass their own, longer, timeouts).
expect.set_options(timeout=15_000)


# Module scope, not session: Playwright's sync API keeps an event loop running while it is open, and
# any later test on the same worker that calls asyncio.run() would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def dashboard_build() -> Path:
    return require_dashboard_build()


@pytest.fixture
def new_page(browser: Browser, dashboard_build: Path, request: pytest.FixtureRequest) -> Iterator[NewPage]:
    """Opens a page in a context of its own (a separate login); all are closed after the test."""
    opened: list[tuple[Page, list[str]]] = []
    request.node.stash[_PAGES] = opened
    contexts = []

    def make(viewport: dict[str, int] | None = None) -> Page:
        context = browser.new_context(viewport=viewport or DESKTOP)  # type: ignore[arg-type]
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        console: list[str] = []

        def record(message: ConsoleMessage) -> None:
            console.append(f"{message.type}: {message.text}")

        page.on("console", record)
        page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
        page.on("websocket", lambda ws: _record_terminal_frames(ws, console))
        opened.append((page, console))
        return page

    yield make
    for context in contexts:
        context.close()


def _record_terminal_frames(ws: WebSocket, log: list[str]) -> None:
    """The terminal's WebSocket frames, shortened, for the failure artifacts."""
    if "/terminal/" not in ws.url:
        return
    log.append(f"websocket opened: {ws.url}")

    def frame(direction: str) -> Callable[[str | bytes], None]:
        def record(payload: str | bytes) -> None:
            if isinstance(payload, str):  # the first message may carry the token: never keep it
                payload = re.sub(r'"token"\s*:\s*"[^"]*"', '"token": "(redacted)"', payload)
            log.append(f"ws {direction}: {payload[:300]!r}")

        return record

    ws.on("framesent", frame("sent"))
    ws.on("framereceived", frame("received"))
    ws.on("close", lambda _: log.append("websocket closed"))


@pytest.fixture
def page(new_page: NewPage) -> Page:
    return new_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and report.when in ("setup", "call"):
        folder = _save_artifacts(item)
        if folder is not None:
            report.sections.append(("dashboard artifacts", f"screenshots and HTML in {folder}"))
    return report


def _save_artifacts(item: pytest.Item) -> Path | None:
    pages = item.stash.get(_PAGES, [])
    if not pages:
        return None
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for number, (page, console) in enumerate(pages, start=1):
        (folder / f"page{number}-console.txt").write_text("\n".join(console) + "\n")
        if page.is_closed():
            continue
        try:
            (folder / f"page{number}-url.txt").write_text(page.url + "\n")
            page.screenshot(path=str(folder / f"page{number}.png"), full_page=True)
            (folder / f"page{number}.html").write_text(page.content())
        except Exception as exc:  # noqa: BLE001 - a broken page must not hide the test's own failure
            (folder / f"page{number}-error.txt").write_text(f"could not save the page: {exc!r}\n")
    return folder
