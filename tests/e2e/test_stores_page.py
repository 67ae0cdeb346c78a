"""Issue 20 in the console: an admin adds a hand-made CasaOS store (a folder on this server) on the
Stores page and sees what it brought and what it skipped, with the reason; the catalog filters by
it and marks its template as a community one; the template's page (at `/catalog/<store>/<name>`,
also after a reload) shows what the conversion changed and deploys it; Refresh says "Refreshing…"
until the store_refreshed event; Remove says apps deployed from it keep running.

The test also writes screenshots of the pages it checks to tests/e2e/artifacts/stores-page/."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import ARTIFACTS, nav_link, sign_in
from tests.harness import Stack, free_port

pytestmark = [pytest.mark.xdist_group("browser")]

ADD_TIMEOUT = 120_000  # ms: fetching, converting and checking a store is a subprocess and compose runs
DEPLOY_TIMEOUT = 120_000
SHOTS = ARTIFACTS / "stores-page"

WEB = """name: hello-web
services:
  web:
    image: {image}
    pull_policy: never
    command: ["httpd", "-f", "-p", "8080", "-h", "/"]
    ports:
      - target: 8080
        published: "{port}"
        protocol: tcp
    environment:
      ADMIN_PASSWORD: changeme
x-casaos:
  main: web
  category: Utilities
  port_map: "{port}"
  title:
    en_us: Hello Web
  description:
    en_us: A busybox web server from a hand-made store.
"""
PRIVILEGED = """name: rooted
services:
  rooted:
    image: {image}
    privileged: true
    command: ["sleep", "3600"]
x-casaos:
  main: rooted
  category: Utilities
  title:
    en_us: Rooted
  description:
    en_us: Wants the whole host.
"""


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def store_folder(tmp_path: Path, busybox_image: str) -> Path:
    """A CasaOS-layout store: a busybox web server on a free port, and a privileged app."""
    folder = tmp_path / "casa-store"
    for app, text in (("HelloWeb", WEB), ("Rooted", PRIVILEGED)):
        (folder / "Apps" / app).mkdir(parents=True)
        (folder / "Apps" / app / "docker-compose.yml").write_text(
            text.format(image=busybox_image, port=free_port())
        )
    return folder


@pytest.fixture
def cleanup(stack: Stack, admin_token: str) -> Iterator[dict[str, str]]:
    """Names the test may leave behind (`store`, `app`): removed at the end, whatever happened."""
    made: dict[str, str] = {}
    yield made
    with stack.client(admin_token) as c:
        if "app" in made and c.get(f"/api/v1/apps/{made['app']}").status_code == 200:
            stack.act(admin_token, made["app"], "remove", remove_volumes="true")
        if "store" in made:
            c.delete(f"/api/v1/catalog/stores/{made['store']}")


def test_add_a_store_see_its_skipped_entry_filter_the_catalog_and_deploy_its_template(
    stack: Stack, admin_token: str, page: Page, store_folder: Path, cleanup: dict[str, str]
) -> None:
    store = cleanup["store"] = _name("casa")
    template = f"{store}/hello-web"
    problems: list[str] = []  # console errors and page errors: none is expected on the way
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Stores").click()
    expect(page.get_by_role("heading", name="Stores", exact=True)).to_be_visible()

    # add it by its folder's path; the name is suggested from the URL, and replaced here
    page.get_by_label("URL").fill(str(store_folder))
    expect(page.get_by_label("Name")).to_have_value("casa-store")
    page.get_by_label("Name").fill(store)
    expect(page.get_by_label("Format")).to_have_value("")  # "Detect automatically"
    page.get_by_role("button", name="Add store", exact=True).click()
    expect(page.get_by_text(f"Added {store} (CasaOS): 1 template, 1 skipped.")).to_be_visible(
        timeout=ADD_TIMEOUT
    )
    expect(page.get_by_label("URL")).to_have_value("")

    # its card, opened: the skipped entry with its reason, and the template it brought
    card = page.get_by_test_id(f"store-{store}")
    expect(card.get_by_test_id("store-format")).to_have_text("CasaOS")
    expect(card.get_by_test_id("store-templates")).to_have_text("1")
    expect(card.get_by_test_id("store-skipped")).to_have_text("1")
    details = card.get_by_test_id("store-details")
    expect(details).to_be_visible()  # the page opens the store it has just added
    skipped = details.get_by_role("row").filter(has_text="rooted")
    expect(skipped).to_contain_text(re.compile("privileged", re.IGNORECASE))
    expect(details.get_by_role("link", name=template, exact=True)).to_be_visible()
    _shot(page, "stores")

    # a refresh says so until its store_refreshed event, then what it found
    card.get_by_test_id("store-refresh").click()
    expect(card.get_by_text("Refreshed: 1 template, 1 skipped; no template changed.")).to_be_visible(
        timeout=ADD_TIMEOUT
    )
    expect(card.get_by_test_id("store-refresh")).to_have_text("Refresh")

    # the catalog, filtered by the store: its one template, marked as a community one
    details.get_by_role("link", name="Show them in the catalog").click()
    expect(page).to_have_url(re.compile(rf"/catalog\?store={store}$"))
    stores_filter = page.get_by_role("group", name="Stores")
    expect(stores_filter.get_by_role("button", name=store, exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    card_link = page.get_by_test_id(f"template-{template}")
    expect(card_link).to_be_visible()
    expect(page.locator("[data-testid^='template-']")).to_have_count(1)
    expect(card_link.get_by_test_id("community-badge")).to_have_text(
        f"{store} · community, not reviewed by AppOS"
    )
    _shot(page, "catalog-filtered")
    # AppOS's own templates carry no such badge, and this store's is not among them
    stores_filter.get_by_role("button", name="AppOS", exact=True).click()
    expect(page.get_by_test_id("template-busybox-httpd")).to_be_visible()
    expect(card_link).to_have_count(0)
    expect(page.get_by_test_id("community-badge")).to_have_count(0)
    stores_filter.get_by_role("button", name=store, exact=True).click()

    # its page: the badge, what the conversion changed (the fixed password), a deep link that reloads
    card_link.click()
    expect(page).to_have_url(f"{stack.url}/catalog/{template}")
    expect(page.get_by_role("heading", name="Hello Web")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Hello Web")).to_be_visible()
    expect(page.get_by_test_id("community-badge")).to_have_text(f"{store} · community, not reviewed by AppOS")
    expect(page.get_by_test_id("template-notes")).to_contain_text("ADMIN_PASSWORD")
    expect(page.get_by_label("App name")).to_have_value("hello-web")
    _shot(page, "store-template")

    # and it deploys by its full name
    app = cleanup["app"] = _name("hello")
    page.get_by_label("App name").fill(app)
    page.get_by_role("button", name="Deploy", exact=True).click()
    page.wait_for_url(re.compile(rf"/apps/{app}/deployments/[^/?#]+"))
    expect(page.get_by_test_id("deployment-status")).to_contain_text(
        "succeeded", ignore_case=True, timeout=DEPLOY_TIMEOUT
    )
    with stack.client(admin_token) as c:
        assert c.get(f"/api/v1/apps/{app}").json()["status"] == "running"

    # removing the store says its apps keep running; they do
    nav_link(page, "Stores").click()
    card = page.get_by_test_id(f"store-{store}")
    card.get_by_role("button", name=f"Remove {store}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Apps already deployed from it keep running")
    _shot(page, "remove-store")
    dialog.get_by_role("button", name="Remove store", exact=True).click()
    expect(card).to_have_count(0)
    del cleanup["store"]
    with stack.client(admin_token) as c:
        assert c.get(f"/api/v1/apps/{app}").json()["status"] == "running"
    assert problems == []
