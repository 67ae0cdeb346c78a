"""Issue 18 §3: the console follows the live event stream instead of polling. A change made through
the REST API (a deploy, a stop, a start, a new domain) shows on a page that is already open, with no
reload; and an open page left alone asks the API for apps, deployments and domains not once, while
its clock runs two minutes ahead (Playwright's fake clock fires every timer that falls due), though
it does keep sampling what no event carries (the server's load, an app's container stats)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, WebSocket, expect

from tests.e2e.browser import nav_link, sign_in
from tests.harness import Stack, free_port

pytestmark = [pytest.mark.xdist_group("browser")]

DEPLOY_TIMEOUT = 120_000  # ms: a deployment's whole run, in the browser's clock
SETTLE = 500  # ms of the page's clock: far shorter than any of its intervals
IDLE = "02:00"  # longer than any interval the console ever had for these (15 and 30 s)
# what the events announce: the console must not ask for these on a timer
EVENT_DRIVEN = ("/api/v1/apps", "/api/v1/deployments", "/api/v1/proxy/domains")


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def _event_driven(path: str) -> bool:
    path = path.split("?", 1)[0]
    if path.endswith("/stats"):  # an app's container stats: sampled, no event carries them
        return False
    return any(path == root or path.startswith(root + "/") for root in EVENT_DRIVEN)


class Traffic:
    """What the page asks: each request's path in order, the documents it loads, and the events
    its WebSocket receives."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.paths: list[str] = []
        self.documents = 0
        self.document_urls: list[str] = []  # which, to say so when there are more than one
        self.events: list[dict[str, Any]] = []
        # what makes a page ask again without polling: its event stream opened anew (it then reads
        # what it may have missed) or a request the browser dropped because the machine's network
        # changed (other tests create Docker networks and network namespaces: Chromium then fails
        # requests in flight with net::ERR_NETWORK_CHANGED and the query library asks again)
        self.disruptions: list[str] = []
        self._streams = 0
        page.on("request", self._request)
        page.on("requestfailed", self._failed)
        page.on("websocket", self._websocket)

    def _request(self, request: Request) -> None:
        if request.resource_type == "document":
            self.documents += 1
            self.document_urls.append(request.url)
        url = urlsplit(request.url)
        self.paths.append(f"{url.path}?{url.query}" if url.query else url.path)

    def _failed(self, request: Request) -> None:
        if "ERR_NETWORK_CHANGED" in (request.failure or ""):
            self.disruptions.append(f"{request.url}: {request.failure}")

    def _websocket(self, ws: WebSocket) -> None:
        if "/events/ws" in ws.url:
            self._streams += 1
            if self._streams > 1:
                self.disruptions.append(f"event stream opened again ({ws.url})")
            ws.on("framereceived", self._frame)

    def _frame(self, payload: str | bytes) -> None:
        try:
            data = json.loads(payload)
        except ValueError:
            return
        if isinstance(data, dict) and isinstance(data.get("seq"), int):
            self.events.append(data)

    def fence(self) -> int:
        """A request of the test's own through the page, seen in order with the page's: every request
        the page made before it has been counted. Returns the count up to the fence."""
        marker = f"/health?fence={uuid.uuid4().hex[:8]}"
        with self.page.expect_request(lambda r: r.url.endswith(marker)):
            self.page.evaluate("(url) => fetch(url).then((r) => r.status)", marker)
        return self.paths.index(marker)

    def while_idle(self, attempts: int = 3) -> tuple[list[str], list[dict[str, Any]]]:
        """Runs the page's clock IDLE ahead with nobody touching it: the API paths it asked for
        meanwhile, and the events its stream received. A window in which the browser dropped a
        request or the event stream reconnected says nothing about polling: it is run again (the
        last one counts whatever happened in it)."""
        for attempt in range(attempts):
            # what the last navigation started (a fetch on mount of data gone stale, which the query
            # library may schedule on a zero-delay timer of the fake clock) is done before idling starts
            self.page.clock.run_for(SETTLE)
            self.page.wait_for_load_state("networkidle")
            start, events, disruptions = self.fence(), len(self.events), len(self.disruptions)
            self.page.clock.run_for(IDLE)
            end = self.fence()
            if len(self.disruptions) == disruptions or attempt == attempts - 1:
                break
        asked = [p for p in self.paths[start + 1 : end] if not p.startswith("/health?fence=")]
        return asked, self.events[events:]


def _live(page: Page) -> None:
    expect(page.get_by_title("Live events: live")).to_be_visible()


@pytest.fixture(scope="module")
def site(stack: Stack, admin_token: str, busybox_image: str) -> Iterator[str]:
    """A busybox-httpd app, running."""
    name = _name("live")
    body = {
        "name": name,
        "template": "busybox-httpd",
        "settings": {"HTTP_PORT": str(free_port()), "MESSAGE": name},
    }
    _, deployment = stack.deploy(admin_token, body)
    assert deployment["status"] == "succeeded", deployment
    yield name
    with stack.client(admin_token) as c:
        r = c.delete(f"/api/v1/apps/{name}", params={"remove_volumes": "true"})
    if r.status_code == 202:
        stack.wait_deployment(admin_token, r.json()["deployment"]["id"])


def test_an_idle_page_asks_only_for_what_no_event_announces(stack: Stack, site: str, page: Page) -> None:
    page.clock.install()  # before the console loads: its timers are the fake clock's
    traffic = Traffic(page)
    sign_in(page, stack.url, "admin", stack.admin_password())
    _live(page)

    # the overview: apps, domains and failed deployments come from events; the server's load is sampled
    expect(page.get_by_test_id("apps-by-status")).to_be_visible()
    asked, events = traffic.while_idle()
    assert "/api/v1/system/host-stats" in asked, f"the fake clock fired no timer of the page: {asked}"
    assert [p for p in asked if _event_driven(p)] == [], (asked, events, traffic.disruptions)

    # the apps list
    nav_link(page, "Apps").click()
    expect(page.get_by_test_id(f"app-status-{site}")).to_have_text("running")
    asked, events = traffic.while_idle()
    assert [p for p in asked if _event_driven(p)] == [], (asked, events, traffic.disruptions)

    # an app's page: its container stats are sampled, nothing else is asked again
    page.get_by_role("link", name=site, exact=True).click()
    expect(page.get_by_test_id("app-status")).to_have_text("running")
    # the first sample is shown: the next one is due on the page's clock
    memory = page.get_by_role("figure").filter(has_text="Memory").locator("figcaption span").last
    expect(memory).not_to_have_text("—")
    asked, events = traffic.while_idle()
    assert f"/api/v1/apps/{site}/stats" in asked, asked
    assert [p for p in asked if _event_driven(p)] == [], (asked, events, traffic.disruptions)

    # the domains
    nav_link(page, "Domains").click()
    expect(page.get_by_role("heading", name="Domains")).to_be_visible()
    asked, events = traffic.while_idle()
    assert [p for p in asked if _event_driven(p)] == [], (asked, events, traffic.disruptions)
    assert traffic.documents == 1, traffic.document_urls  # one load, then client-side navigation only


def test_changes_made_through_rest_show_on_open_pages_without_reload(
    stack: Stack, admin_token: str, site: str, page: Page
) -> None:
    traffic = Traffic(page)
    sign_in(page, stack.url, "admin", stack.admin_password())
    _live(page)
    fresh = _name("new")
    domain = f"{_name('live')}.invalid"
    try:
        # a deploy through the API appears in the open apps list and runs there
        nav_link(page, "Apps").click()
        expect(page.get_by_test_id(f"app-status-{site}")).to_have_text("running")
        with stack.client(admin_token) as c:
            r = c.post(
                "/api/v1/apps",
                json={
                    "name": fresh,
                    "template": "busybox-httpd",
                    "settings": {"HTTP_PORT": str(free_port()), "MESSAGE": fresh},
                },
            )
        assert r.status_code == 202, r.text
        expect(page.get_by_test_id(f"app-status-{fresh}")).to_have_text("running", timeout=DEPLOY_TIMEOUT)

        # a stop through the API
        assert stack.act(admin_token, site, "stop")["status"] == "succeeded"
        expect(page.get_by_test_id(f"app-status-{site}")).to_have_text("stopped")

        # the app's page is open when it starts again
        page.get_by_role("link", name=site, exact=True).click()
        expect(page.get_by_test_id("app-status")).to_have_text("stopped")
        assert stack.act(admin_token, site, "start")["status"] == "succeeded"
        expect(page.get_by_test_id("app-status")).to_have_text("running")

        # a domain added through the API appears on the open domains page
        nav_link(page, "Domains").click()
        expect(page.get_by_role("heading", name="Domains")).to_be_visible()
        with stack.client(admin_token) as c:
            r = c.post(
                "/api/v1/proxy/domains",
                json={"domain": domain, "app": site, "service": "web", "port": 8080, "https": False},
            )
        assert r.status_code == 200, r.text
        expect(page.get_by_role("row").filter(has_text=domain)).to_be_visible()
        assert traffic.documents == 1, traffic.document_urls  # never reloaded
    finally:
        with stack.client(admin_token) as c:
            c.delete(f"/api/v1/proxy/domains/{domain}")
            r = c.delete(f"/api/v1/apps/{fresh}", params={"remove_volumes": "true"})
        if r.status_code == 202:
            stack.wait_deployment(admin_token, r.json()["deployment"]["id"])
