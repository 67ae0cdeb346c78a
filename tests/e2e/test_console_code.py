"""The console's code is split by page. On the machine AppOS runs on, Chromium drops requests in
flight whenever Docker creates a network (net::ERR_NETWORK_CHANGED), and a deploy does; a page's code
lost that way made the router reload the whole console — losing, after a deploy, the generated
secrets that are shown once. Once the console is up it fetches every page's code in the background,
each retried until it arrives (dashboard/src/lib/routeCode.ts): a dropped fetch does no harm, and
later navigations fetch no code at all."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.browser import nav_link, sign_in
from tests.harness import Stack

pytestmark = [pytest.mark.xdist_group("browser")]

# the code of the pages named `$id` (a deployment's, among them: where a deploy leads)
PAGE_CODE = re.compile(r"/assets/_id-[^/]+\.js$")
PAGES = ("Apps", "Deployments", "Domains", "Users", "Servers")  # each link's page has that heading


def test_a_dropped_fetch_of_page_code_is_retried_and_later_pages_fetch_none(stack: Stack, page: Page) -> None:
    dropped: list[str] = []

    def drop_the_first(route: Route) -> None:
        if not dropped:
            dropped.append(route.request.url)
            route.abort("internetdisconnected")  # as Chromium fails a request when the network changes
        else:
            route.continue_()

    documents: list[str] = []
    page.on("request", lambda r: documents.append(r.url) if r.resource_type == "document" else None)
    page.route(PAGE_CODE, drop_the_first)
    sign_in(page, stack.url, "admin", stack.admin_password())
    expect(page.locator("html")).to_have_attribute("data-route-code", "loaded", timeout=60_000)
    assert dropped, "the console fetched no page code in the background"

    # from now on no code can be fetched at all: every page still shows, and nothing reloads
    page.unroute_all()
    code: list[str] = []

    def refuse(route: Route) -> None:
        code.append(route.request.url)
        route.abort("internetdisconnected")

    page.route("**/assets/**", refuse)
    for name in PAGES:
        nav_link(page, name).click()
        expect(page.get_by_role("heading", name=name, exact=True).first).to_be_visible()
    assert code == [], code
    assert len(documents) == 1, documents  # one load, no reload
