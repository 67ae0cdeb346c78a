"""Issue 20's template updates in the console, with the real stack: an app deployed from a store's
template; the store's folder changes and a refresh finds it; the Updates page then shows the app's
"The store template <store>/hello changed." with no Update button, its diff (the old line removed,
the new one added) behind a click, a link to the app's Compose tab; the app's page carries the
"template changed" badge. Nothing was redeployed: the app still serves the old page.

The test writes screenshots to tests/e2e/artifacts/template-update/."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import ARTIFACTS, nav_link, sign_in
from tests.harness import Stack, free_port, wait_for

pytestmark = [pytest.mark.xdist_group("browser")]
# Chromium fails a request when the host's network changes (other tests make Docker networks and
# namespaces meanwhile): the host's doing, not the page's
NETWORK = "net::ERR_NETWORK_CHANGED"

SHOTS = ARTIFACTS / "template-update"
WEB = """name: hello
services:
  web:
    image: {image}
    pull_policy: never
    init: true
    command: ["sh", "-c", "mkdir -p /www && echo {message} > /www/index.html && httpd -f -p 8080 -h /www"]
    ports:
      - target: 8080
        published: "8460"
        protocol: tcp
x-casaos:
  main: web
  category: Utilities
  port_map: "8460"
  title:
    en_us: Hello
  description:
    en_us: A web page that says {message}.
"""


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _page(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
            return str(reply.read().decode().strip())
    except OSError:
        return None


@pytest.fixture
def made(stack: Stack, admin_token: str) -> Iterator[dict[str, str]]:
    """The store and app the test makes, removed at the end whatever happened."""
    names: dict[str, str] = {}
    yield names
    with stack.client(admin_token) as c:
        if "app" in names:
            r = c.delete(f"/api/v1/apps/{names['app']}", params={"remove_volumes": "true"})
            if r.status_code == 202:
                stack.wait_deployment(admin_token, r.json()["deployment"]["id"])
        if "store" in names:
            c.delete(f"/api/v1/catalog/stores/{names['store']}")


def test_a_changed_store_template_shows_on_updates_with_its_diff_and_no_update_button(
    stack: Stack, admin_token: str, page: Page, tmp_path: Path, busybox_image: str, made: dict[str, str]
) -> None:
    compose = tmp_path / "casa" / "Apps" / "hello" / "docker-compose.yml"
    compose.parent.mkdir(parents=True)
    compose.write_text(WEB.format(image=busybox_image, message="one"))
    store = made["store"] = f"tu{uuid.uuid4().hex[:6]}"
    with stack.client(admin_token) as c:
        added = c.post("/api/v1/catalog/stores", json={"name": store, "url": str(compose.parents[2])})
    assert added.status_code == 201, added.text
    app, port = f"tuapp{uuid.uuid4().hex[:6]}", free_port()
    made["app"] = app
    body = {"name": app, "template": f"{store}/hello", "settings": {"HTTP_PORT": str(port)}}
    _, deployment = stack.deploy(admin_token, body)
    assert deployment["status"] == "succeeded", deployment
    assert _page(port) == "one"

    # the store's template changes; a refresh finds it
    compose.write_text(WEB.format(image=busybox_image, message="two"))
    with stack.client(admin_token) as c:
        assert c.post(f"/api/v1/catalog/stores/{store}/refresh", json={}).status_code == 202

    def found() -> bool:
        with stack.client(admin_token) as c:
            rows = c.get(f"/api/v1/apps/{app}/updates").json()["updates"]
        return any(u["kind"] == "template" for u in rows)

    wait_for(found, timeout=120, what="the template update")

    problems: list[str] = []  # console errors; Chromium's "network changed" is the host's, not ours
    page.on(
        "console", lambda m: problems.append(m.text) if m.type == "error" and NETWORK not in m.text else None
    )
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Updates").click()
    section = page.get_by_test_id(f"updates-{app}")
    change = section.get_by_test_id(f"template-update-{app}")
    expect(change.get_by_test_id("template-update-words")).to_have_text(
        f"The store template {store}/hello changed."
    )
    expect(change).to_contain_text("Redeploying with the new template is your choice")
    expect(section.get_by_role("button", name="Update")).to_have_count(0)  # nothing applies it
    expect(section.get_by_role("table")).to_have_count(0)  # and it has no image rows
    diff = change.get_by_test_id("template-diff")
    expect(diff).to_be_hidden()
    change.get_by_text("What changed in the template").click()
    expect(diff).to_be_visible()
    expect(diff.locator("[data-kind=del]").filter(has_text="echo one")).to_have_count(1)
    expect(diff.locator("[data-kind=add]").filter(has_text="echo two")).to_have_count(1)
    _shot(page, "updates")

    change.get_by_role("link", name="Compose tab").click()
    expect(page).to_have_url(f"{stack.url}/apps/{app}/compose")
    expect(page.get_by_test_id(f"update-badge-{app}")).to_have_text("template changed")
    _shot(page, "app")
    assert _page(port) == "one"  # nothing was redeployed
    assert problems == []
