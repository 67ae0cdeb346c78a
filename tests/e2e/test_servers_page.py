"""Issue 21 in the console, with the real stack: the Servers page lists this machine with its engine;
an admin sees AppOS's public key (the one the API gives) with where it goes, and an Add that cannot
work (nothing listens at the address) says why in the console's words, keeps the form filled in and
saves nothing; a tcp:// address without its certificates is caught before anything is sent. A
viewer sees the list and neither the key nor the form. Adding a real remote server is tested in
tests/integration.

The test writes screenshots to tests/e2e/artifacts/servers-page/."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import ARTIFACTS, horizontal_overflow, nav_link, sign_in
from tests.harness import Stack, free_port

pytestmark = [pytest.mark.xdist_group("browser")]
# Chromium fails a request when the host's network changes (other tests make Docker networks and
# namespaces meanwhile): the host's doing, not the page's
NETWORK = "net::ERR_NETWORK_CHANGED"

ADD_TIMEOUT = 90_000  # ms: the server scans the host key and tries SSH before it answers
SHOTS = ARTIFACTS / "servers-page"


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _server_names(stack: Stack, token: str) -> list[str]:
    with stack.client(token) as c:
        return [s["name"] for s in c.get("/api/v1/servers").json()["servers"]]


@pytest.fixture
def viewer(stack: Stack, admin_token: str) -> Iterator[tuple[str, str]]:
    username, password = f"view{uuid.uuid4().hex[:6]}", f"viewer-password-{uuid.uuid4().hex[:8]}"
    with stack.client(admin_token) as c:
        made = c.post("/api/v1/users", json={"username": username, "password": password, "role": "viewer"})
        assert made.status_code == 200, made.text
    yield username, password
    with stack.client(admin_token) as c:
        c.delete(f"/api/v1/users/{username}")


def test_an_admin_sees_local_the_key_and_a_refused_add_that_keeps_the_form(
    stack: Stack, admin_token: str, page: Page
) -> None:
    problems: list[str] = []  # console errors other than the refused request itself
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and "status of 400" not in m.text and NETWORK not in m.text
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Servers").click()
    expect(page).to_have_url(f"{stack.url}/servers")
    expect(page.get_by_role("heading", name="Servers", exact=True)).to_be_visible()

    # this machine, first, with its engine
    local = page.get_by_test_id("server-local")
    expect(local.get_by_test_id("server-status")).to_have_text("this machine")
    expect(local.get_by_test_id("server-engine")).to_contain_text("Docker ")
    listed = page.get_by_role("list", name="Servers").get_by_role("listitem")
    expect(listed.first).to_have_attribute("data-testid", "server-local")

    # AppOS's key, as the API gives it, and where it goes
    with stack.client(admin_token) as c:
        key = c.get("/api/v1/servers/key").json()
    expect(page.get_by_test_id("server-public-key")).to_have_text(key["public_key"])
    assert key["public_key"].startswith("ssh-ed25519 ")
    expect(page.get_by_test_id("server-key-fingerprint")).to_have_text(key["fingerprint"])
    expect(page.get_by_text("~/.ssh/authorized_keys", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Copy AppOS's public key")).to_be_visible()

    # a tcp:// address without its certificates is caught here; nothing is sent
    name = f"edge{uuid.uuid4().hex[:6]}"
    page.get_by_label("Name").fill(name)
    page.get_by_label("Address").fill("tcp://127.0.0.1:2376")
    page.get_by_role("button", name="Add server", exact=True).click()
    expect(page.get_by_text("Paste the CA certificate (PEM)")).to_be_visible()

    # nothing listens there: the server says so after its check, the form keeps what was typed
    port = free_port()
    address = f"ssh://deploy@127.0.0.1:{port}"
    page.get_by_label("Address").fill(address)
    page.get_by_role("button", name="Add server", exact=True).click()
    alert = page.get_by_role("alert").filter(has_text="The server was not added")
    expect(alert).to_be_visible(timeout=ADD_TIMEOUT)
    expect(alert.get_by_test_id("error-summary")).to_contain_text(
        f"Nothing accepts SSH connections at 127.0.0.1:{port}."
    )
    expect(alert.get_by_test_id("error-summary")).to_contain_text("firewall")
    expect(page.get_by_label("Name")).to_have_value(name)
    expect(page.get_by_label("Address")).to_have_value(address)
    expect(page.get_by_role("button", name="Add server", exact=True)).to_be_enabled()
    _shot(page, "servers-admin")
    assert name not in _server_names(stack, admin_token)

    # on a phone: the key, the list and the form (with the certificate fields a tcp:// address
    # shows) fit the screen's width; the long key wraps or scrolls inside its own box
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_label("Address").fill("tcp://198.51.100.7:2376")
    expect(page.get_by_label("CA certificate")).to_be_visible()
    expect(page.get_by_test_id("server-public-key")).to_be_visible()
    overflow = horizontal_overflow(page)
    assert overflow["scroll_width"] <= overflow["viewport"], overflow
    _shot(page, "servers-phone")
    assert problems == []


def test_a_viewer_sees_the_list_only(stack: Stack, page: Page, viewer: tuple[str, str]) -> None:
    sign_in(page, stack.url, *viewer)
    nav_link(page, "Servers").click()
    expect(page.get_by_test_id("server-local").get_by_test_id("server-status")).to_have_text("this machine")
    expect(page.get_by_test_id("server-public-key")).to_have_count(0)
    expect(page.get_by_label("Address")).to_have_count(0)
    expect(page.get_by_role("button", name="Add server")).to_have_count(0)
    _shot(page, "servers-viewer")
