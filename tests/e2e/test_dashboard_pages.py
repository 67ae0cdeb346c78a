"""The dashboard's later pages in real Chromium against the real stack: the host terminal, the
notification targets (with a real webhook receiver on loopback), the account's password, the
system's health, an app's options, a new app from a compose file, an app's lifecycle buttons,
backups with their schedule and the audit log, the one-time generated secrets, users, API tokens
and the domains form's errors.

Everything happens through the UI as a user does it; the REST API only sets up (users, an app) and
checks what the UI changed. Users are created per test, so the shared admin is never touched. All
tests run on the browser's xdist worker, as in tests/e2e/test_dashboard.py."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Locator, Page, expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from services.common import totp
from tests.e2e.browser import (
    PHONE,
    append_to_editor,
    confirm_dialog,
    horizontal_overflow,
    nav_link,
    open_app,
    open_tab,
    replace_editor,
    sign_in,
)
from tests.e2e.conftest import NewPage
from tests.harness import Stack, free_port, wait_for
from tests.webhooks import Receiver, verify_signature

pytestmark = [pytest.mark.xdist_group("browser"), pytest.mark.usefixtures("busybox_image")]

TEMPLATE = "busybox-httpd"
WEBHOOK_SECRET = "e2e-webhook-secret-5f0c9a71"


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def _get(stack: Stack, token: str, path: str) -> Any:
    with stack.client(token) as c:
        r = c.get(path)
    assert r.status_code == 200, r.text
    return r.json()


def _status_of_login(stack: Stack, username: str, password: str) -> int:
    with stack.client() as c:
        return c.post("/api/v1/auth/login", json={"username": username, "password": password}).status_code


@dataclass
class User:
    username: str
    password: str
    role: str


def _create_user(stack: Stack, admin_token: str, role: str) -> User:
    user = User(_name(role[:4]), f"{role}-password-{uuid.uuid4().hex[:8]}", role)
    with stack.client(admin_token) as c:
        r = c.post("/api/v1/users", json={"username": user.username, "password": user.password, "role": role})
    assert r.status_code == 200, r.text
    return user


def _delete_user(stack: Stack, admin_token: str, username: str) -> None:
    with stack.client(admin_token) as c:
        c.delete(f"/api/v1/users/{username}")


MakeUser = Callable[[str], User]


@pytest.fixture
def make_user(stack: Stack, admin_token: str) -> Iterator[MakeUser]:
    """Creates users through the API (removed after the test)."""
    made: list[User] = []

    def make(role: str) -> User:
        user = _create_user(stack, admin_token, role)
        made.append(user)
        return user

    yield make
    for user in made:
        _delete_user(stack, admin_token, user.username)


def _deployed_app(stack: Stack, admin_token: str, prefix: str, message: str) -> Iterator[str]:
    """A busybox-httpd app deployed through the REST API for a fixture, removed afterwards."""
    name = _name(prefix)
    _, deployment = stack.deploy(
        admin_token,
        {"name": name, "template": TEMPLATE, "settings": {"HTTP_PORT": str(free_port()), "MESSAGE": message}},
    )
    assert deployment["status"] == "succeeded", f"{deployment['status']}: {deployment.get('reason')}"
    yield name
    stack.act(admin_token, name, "remove", remove_volumes="true")


@pytest.fixture(scope="module")
def app(stack: Stack, admin_token: str, busybox_image: str) -> Iterator[str]:
    """A busybox-httpd app the page tests share."""
    yield from _deployed_app(stack, admin_token, "pg", "pages")


# ---- host terminal -----------------------------------------------------------------------------


def test_an_admin_runs_a_command_in_the_host_terminal(stack: Stack, page: Page) -> None:
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Terminal").click()
    expect(page.get_by_role("heading", name="Host terminal")).to_be_visible()
    expect(page.get_by_test_id("terminal-placeholder")).to_be_visible()  # nothing runs before Connect
    page.get_by_role("button", name="Connect", exact=True).click()
    # the first time in a session, the console asks: this is a root shell on the server
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("a root shell on the server")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("terminal-placeholder")).to_be_visible()  # nothing opened
    page.get_by_role("button", name="Connect", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Open the shell").click()
    expect(page.get_by_text("Connected to the host")).to_be_visible(timeout=30_000)
    terminal = page.get_by_test_id("terminal")
    rows = terminal.locator(".xterm-rows")
    expect(rows).to_be_visible()
    terminal.click()
    page.keyboard.type("echo host-$((6*7))")
    page.keyboard.press("Enter")
    # Only the shell's output has 42: the echoed command line shows $((6*7)).
    expect(rows).to_contain_text("host-42", timeout=30_000)

    # A new session replaces this one: a fresh shell, and the old socket's end reports nothing.
    page.get_by_role("button", name="New session", exact=True).click()
    expect(rows).not_to_contain_text("host-42")  # the old view is gone: a new, empty terminal
    expect(rows).to_contain_text(re.compile(r"\S"), timeout=30_000)  # the new shell's prompt: open
    expect(page.get_by_text("Connected to the host")).to_be_visible()
    terminal.click()
    page.keyboard.type("echo again-$((20+1))")
    page.keyboard.press("Enter")
    expect(rows).to_contain_text("again-21", timeout=30_000)
    expect(page.get_by_role("alert")).to_have_count(0)
    page.get_by_role("button", name="Disconnect", exact=True).click()
    expect(page.get_by_text("Disconnected.")).to_be_visible()
    expect(page.get_by_role("button", name="Connect", exact=True)).to_be_visible()
    expect(page.get_by_test_id("terminal-placeholder")).to_be_visible()
    # confirmed once in this session: connecting again asks nothing
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_text("Connected to the host")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Disconnect", exact=True).click()


def _host_terminal_refusal(stack: Stack, token: str) -> tuple[dict[str, Any], int]:
    """What the server answers a host terminal for `token`: the error message and the close code."""
    url = f"ws://127.0.0.1:{stack.port}/api/v1/terminal/ws?target=host"
    protocols = [Subprotocol("appos.v1"), Subprotocol(f"bearer.{token}")]
    with connect(url, subprotocols=protocols, max_size=None) as ws:
        error = json.loads(ws.recv(timeout=30))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
    assert closed.value.rcvd is not None
    return error, closed.value.rcvd.code


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_get_the_host_terminal(stack: Stack, make_user: MakeUser, page: Page, role: str) -> None:
    user = make_user(role)
    sign_in(page, stack.url, user.username, user.password)
    expect(nav_link(page, "System")).to_be_visible()  # the navigation is there ...
    expect(nav_link(page, "Terminal")).to_have_count(0)  # ... without the host terminal
    page.goto(stack.url + "/terminal")  # typed by hand: a clear refusal, and nothing to connect
    expect(page.get_by_role("alert")).to_contain_text("needs the admin role")
    expect(page.get_by_role("button", name="Connect", exact=True)).to_have_count(0)
    expect(page.get_by_test_id("terminal")).to_have_count(0)
    # What the page says is what the server enforces: a host shell is refused for this role.
    error, code = _host_terminal_refusal(stack, stack.login(user.username, user.password))
    assert code == 4403 and error["code"] == "permission_denied", (code, error)
    assert "admin" in error["message"]


# ---- notifications -----------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def _target_names(stack: Stack, token: str) -> list[str]:
    return [t["name"] for t in _get(stack, token, "/api/v1/notifications/targets").get("targets", [])]


def _open_new_target_form(page: Page, stack: Stack) -> Locator:
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Notifications").click()
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    page.get_by_role("button", name="Add target", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    return dialog


def test_add_a_webhook_target_and_send_a_signed_test(
    stack: Stack, admin_token: str, receiver: Receiver, page: Page
) -> None:
    name, path = _name("hook"), f"/hook/{uuid.uuid4().hex[:8]}"
    dialog = _open_new_target_form(page, stack)
    try:
        dialog.get_by_label("Target name").fill(name)
        dialog.get_by_label("URL", exact=True).fill(receiver.url(path))
        dialog.get_by_label("Secret", exact=True).fill(WEBHOOK_SECRET)
        dialog.get_by_role("button", name="Add target", exact=True).click()
        expect(dialog).to_be_hidden()
        card = page.get_by_test_id(f"target-{name}")
        expect(card).to_contain_text(receiver.url(path))
        expect(page.get_by_test_id(f"secret-{name}")).to_have_text("set")  # write-only: never shown
        stored = _get(stack, admin_token, f"/api/v1/notifications/targets/{name}")
        assert stored["kind"] == "webhook" and stored["enabled"] is True, stored
        assert stored["webhook"] == {"url": receiver.url(path), "secret": "", "secret_set": True}

        card.get_by_role("button", name="Send test", exact=True).click()
        result = card.get_by_test_id("test-result")
        expect(result).to_contain_text("Delivered (HTTP 200)", timeout=30_000)
        [request] = wait_for(lambda: receiver.received(path), timeout=30, what="the test webhook")
        verify_signature(request, WEBHOOK_SECRET)
        body = json.loads(request.body)
        assert body["event"] == "test" and name in body["message"], body
        expect(card).to_contain_text("delivered")  # the card's "Last delivery", from the server
    finally:
        with stack.client(admin_token) as c:
            c.delete(f"/api/v1/notifications/targets/{name}")


def test_an_unreachable_webhook_says_so_in_words_with_the_next_steps(
    stack: Stack, admin_token: str, page: Page
) -> None:
    """Nothing listens at the URL (a closed loopback port): the test's failure is said plainly,
    with the server's words on demand and Send again / Edit the target as buttons."""
    name = _name("down")
    dialog = _open_new_target_form(page, stack)
    try:
        dialog.get_by_label("Target name").fill(name)
        dialog.get_by_label("URL", exact=True).fill(f"http://127.0.0.1:{free_port()}/hook")
        dialog.get_by_label("Secret", exact=True).fill(WEBHOOK_SECRET)
        dialog.get_by_role("button", name="Add target", exact=True).click()
        expect(dialog).to_be_hidden()
        card = page.get_by_test_id(f"target-{name}")
        card.get_by_role("button", name="Send test", exact=True).click()
        result = card.get_by_test_id("test-result")
        expect(result).to_contain_text("The test notification was not delivered", timeout=30_000)
        expect(result.get_by_test_id("error-summary")).to_contain_text("The webhook cannot be reached")
        expect(result.get_by_test_id("error-summary")).not_to_contain_text("Error")  # no class names
        expect(result.get_by_test_id("error-detail")).to_be_hidden()
        result.get_by_text("Details").click()
        expect(result.get_by_test_id("error-detail")).to_contain_text("could not connect")
        result.get_by_role("button", name="Edit the target").click()
        expect(page.get_by_role("dialog")).to_be_visible()
    finally:
        with stack.client(admin_token) as c:
            c.delete(f"/api/v1/notifications/targets/{name}")


def test_a_bad_webhook_url_is_refused_and_nothing_is_created(
    stack: Stack, admin_token: str, page: Page
) -> None:
    name = _name("bad")
    dialog = _open_new_target_form(page, stack)
    dialog.get_by_label("Target name").fill(name)
    url = dialog.get_by_label("URL", exact=True)
    url.fill("not a url")
    dialog.get_by_label("Secret", exact=True).fill(WEBHOOK_SECRET)
    dialog.get_by_role("button", name="Add target", exact=True).click()
    expect(dialog.get_by_text("A URL of at most 2048 characters, without spaces.")).to_be_visible()
    expect(url).to_have_attribute("aria-invalid", "true")
    expect(dialog.get_by_role("alert")).to_contain_text("Fix the marked fields first.")

    url.fill("ftp://127.0.0.1/hook")  # a URL, but not one AppOS can POST to
    dialog.get_by_role("button", name="Add target", exact=True).click()
    expect(dialog.get_by_text("The URL must start with http:// or https://.")).to_be_visible()
    expect(dialog).to_be_visible()  # still open, with what was typed
    expect(dialog.get_by_label("Target name")).to_have_value(name)
    dialog.get_by_role("button", name="Cancel", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id(f"target-{name}")).to_have_count(0)
    assert name not in _target_names(stack, admin_token)


# ---- account -----------------------------------------------------------------------------------


def _change_password(page: Page, current: str, new: str) -> None:
    form = page.get_by_role("form", name="Change password")
    form.get_by_label("Current password").fill(current)
    form.get_by_label("New password", exact=True).fill(new)
    form.get_by_label("Repeat the new password").fill(new)
    form.get_by_role("button", name="Change password", exact=True).click()


def test_change_the_password_on_the_account_page(
    stack: Stack, make_user: MakeUser, new_page: NewPage
) -> None:
    user = make_user("operator")
    new_password = f"changed-{uuid.uuid4().hex[:10]}"
    page = new_page()
    sign_in(page, stack.url, user.username, user.password)
    page.get_by_role("link", name="Account", exact=True).first.click()
    expect(page.get_by_test_id("account-username")).to_have_text(user.username)

    _change_password(page, "not-my-password", new_password)  # the wrong current password
    form = page.get_by_role("form", name="Change password")
    expect(form.get_by_role("alert")).to_contain_text("current password is wrong")
    expect(form.get_by_text("Password changed.")).to_have_count(0)
    assert _status_of_login(stack, user.username, user.password) == 200  # nothing changed
    assert _status_of_login(stack, user.username, new_password) == 401

    _change_password(page, user.password, new_password)
    expect(form.get_by_text("Password changed. You are still signed in.")).to_be_visible()
    expect(form.get_by_role("alert")).to_have_count(0)
    expect(form.get_by_label("Current password")).to_have_value("")
    page.reload()  # still signed in (the page signed in again with the new password)
    expect(page.get_by_test_id("account-username")).to_have_text(user.username)

    assert _status_of_login(stack, user.username, new_password) == 200
    assert _status_of_login(stack, user.username, user.password) == 401
    # and in the browser: the old password is refused, the new one signs in
    old = new_page()
    old.goto(stack.url + "/")
    old.get_by_label("Username").fill(user.username)
    old.get_by_label("Password").fill(user.password)
    old.get_by_role("button", name="Sign in", exact=True).click()
    expect(old.get_by_role("alert")).to_be_visible()
    expect(old.get_by_label("Password")).to_be_visible()
    fresh = new_page()
    sign_in(fresh, stack.url, user.username, new_password)
    expect(nav_link(fresh, "Apps")).to_be_visible()


def test_two_factor_set_up_on_the_account_page_then_a_sign_in_with_a_code(
    stack: Stack, make_user: MakeUser, new_page: NewPage
) -> None:
    user = make_user("viewer")
    page = new_page()
    sign_in(page, stack.url, user.username, user.password)
    page.get_by_role("link", name="Account", exact=True).first.click()
    card = page.get_by_test_id("two-factor")
    expect(card.get_by_test_id("two-factor-status")).to_have_text("off")
    card.get_by_role("button", name="Set up", exact=True).click()
    expect(card.get_by_test_id("totp-qr").locator("svg")).to_be_visible()  # the QR code, as the app scans it
    secret = card.get_by_test_id("totp-secret").inner_text().strip()
    step = totp.current_step()
    card.get_by_label("Code from the app").fill(pyotp.TOTP(secret).generate_otp(step))
    card.get_by_role("button", name="Turn on", exact=True).click()
    expect(card.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    card.get_by_role("button", name="I have saved them", exact=True).click()
    expect(card.get_by_test_id("recovery-codes")).to_have_count(0)  # shown once
    expect(card.get_by_test_id("two-factor-status")).to_have_text("on")
    assert _status_of_login(stack, user.username, user.password) == 401  # the password alone no longer

    fresh = new_page()
    fresh.goto(stack.url + "/")
    fresh.get_by_label("Username").fill(user.username)
    fresh.get_by_label("Password").fill(user.password)
    fresh.get_by_role("button", name="Sign in", exact=True).click()
    code = fresh.get_by_label("Two-factor code")
    expect(code).to_be_visible()
    expect(fresh.get_by_role("alert")).to_have_count(0)  # asked, not refused
    near = {pyotp.TOTP(secret).generate_otp(s) for s in range(step - 2, step + 4)}
    code.fill(next(c for c in ("000000", "111111", "222222") if c not in near))
    fresh.get_by_role("button", name="Sign in", exact=True).click()
    expect(fresh.get_by_role("alert")).to_contain_text("two-factor code is wrong")
    code.fill(pyotp.TOTP(secret).generate_otp(step + 1))
    fresh.get_by_role("button", name="Sign in", exact=True).click()
    expect(fresh.get_by_label("Password")).to_have_count(0)
    expect(nav_link(fresh, "Apps")).to_be_visible()


# ---- system ------------------------------------------------------------------------------------


def test_the_system_page_shows_each_part_and_its_health(
    stack: Stack, make_user: MakeUser, page: Page
) -> None:
    viewer = make_user("viewer")  # the page is for every role
    sign_in(page, stack.url, viewer.username, viewer.password)
    nav_link(page, "System").click()
    expect(page.get_by_role("heading", name="System")).to_be_visible()
    with stack.client() as c:
        health = c.get("/health").json()
    parts = {p["name"]: p for p in health["parts"]}
    for expected in ("state", "deployer", "worker", "proxyctl", "terminal", "redis", "docker"):
        assert expected in parts, f"/health has no {expected!r}: {health}"
    assert health["status"] == "ok", health  # the shared stack is healthy
    expect(page.get_by_test_id("health-status")).to_have_text("ok")
    for name, part in parts.items():
        row = page.get_by_test_id(f"health-{name}")
        expect(row).to_contain_text(name)
        expect(row.get_by_role("cell").nth(1)).to_have_text(part["status"])
    expect(page.get_by_test_id("health-state")).to_contain_text("database and event log")
    info = _get(stack, stack.login(viewer.username, viewer.password), "/api/v1/system/info")
    expect(page.get_by_test_id("system-version")).to_have_text(info["version"])
    page.get_by_role("button", name="Check now", exact=True).click()
    expect(page.get_by_role("button", name="Check now", exact=True)).to_be_enabled()
    expect(page.get_by_test_id("health-status")).to_have_text("ok")


# ---- app options -------------------------------------------------------------------------------


def test_toggle_an_apps_options(stack: Stack, admin_token: str, app: str, page: Page) -> None:
    before = _get(stack, admin_token, f"/api/v1/apps/{app}")
    rollback, volumes = bool(before.get("auto_rollback")), bool(before.get("backup_volumes"))
    sign_in(page, stack.url, "admin", stack.admin_password())
    open_app(page, stack.url, app)
    card = page.get_by_test_id("app-options")
    auto_rollback = card.get_by_label("Automatic rollback")
    backup_volumes = card.get_by_label("Include volumes in backups")
    save = card.get_by_role("button", name="Save options", exact=True)
    expect(auto_rollback).to_be_checked(checked=rollback)
    expect(backup_volumes).to_be_checked(checked=volumes)
    expect(save).to_be_disabled()  # nothing changed yet

    auto_rollback.click()
    expect(save).to_be_enabled()
    save.click()
    expect(card.get_by_text("Options saved.")).to_be_visible()
    after = _get(stack, admin_token, f"/api/v1/apps/{app}")
    assert bool(after.get("auto_rollback")) is not rollback, after
    assert bool(after.get("backup_volumes")) is volumes, after  # the other option stays

    backup_volumes.click()
    auto_rollback.click()  # both at once: back to the first and the other flipped
    card.get_by_role("button", name="Save options", exact=True).click()
    expect(card.get_by_text("Options saved.")).to_be_visible()
    again = _get(stack, admin_token, f"/api/v1/apps/{app}")
    assert bool(again.get("auto_rollback")) is rollback, again
    assert bool(again.get("backup_volumes")) is not volumes, again
    page.reload()  # what the page shows after a reload is what the server stored
    expect(card.get_by_label("Automatic rollback")).to_be_checked(checked=rollback)
    expect(card.get_by_label("Include volumes in backups")).to_be_checked(checked=not volumes)


# ---- new app from a compose file ---------------------------------------------------------------

DEPLOY_TIMEOUT = 120_000  # ms: a deployment's whole run, in the browser's clock
SLEEPER_COMPOSE = """services:
  main:
    image: appos-test/busybox:latest
    pull_policy: never
    init: true
    command: ["sleep", "3600"]
    environment:
      GREETING: ${GREETING}
"""
HOST_BIND_COMPOSE = """services:
  main:
    image: appos-test/busybox:latest
    pull_policy: never
    command: ["sleep", "3600"]
    volumes:
      - /etc:/x
"""


def _app_status(stack: Stack, token: str, app: str) -> int:
    with stack.client(token) as c:
        return c.get(f"/api/v1/apps/{app}").status_code


def _open_new_app_from_compose(page: Page, stack: Stack) -> None:
    nav_link(page, "Apps").click()
    page.get_by_role("link", name="New app from compose", exact=True).click()
    expect(page.get_by_role("heading", name="New app from compose")).to_be_visible()


def test_create_an_app_from_a_compose_file(
    stack: Stack, admin_token: str, make_user: MakeUser, page: Page
) -> None:
    app = _name("cmp")
    operator = make_user("operator")  # the form is for operators too, not only admins
    sign_in(page, stack.url, operator.username, operator.password)
    _open_new_app_from_compose(page, stack)
    expect(page.get_by_text("Policy exceptions (admin)")).to_have_count(0)  # an admin's choice only
    try:
        page.get_by_label("App name").fill(app)
        replace_editor(page, "new-compose-editor", SLEEPER_COMPOSE)
        replace_editor(page, "new-env-editor", "GREETING=from-the-browser\n")
        page.get_by_label("Message (optional)").fill("composed in the browser")
        page.get_by_label("Automatic rollback").uncheck()
        page.get_by_role("button", name="Create and deploy", exact=True).click()
        page.wait_for_url(re.compile(rf"/apps/{app}/deployments/[^/?#]+"))
        status = page.get_by_test_id("deployment-status")
        expect(status).to_contain_text("succeeded", ignore_case=True, timeout=DEPLOY_TIMEOUT)

        nav_link(page, "Apps").click()
        expect(page.get_by_test_id(f"app-status-{app}")).to_have_text("running", timeout=60_000)
        stored = _get(stack, admin_token, f"/api/v1/apps/{app}")
        assert stored["status"] == "running" and stored["auto_rollback"] is False, stored
        assert not stored.get("template"), stored
        v1 = _get(stack, admin_token, f"/api/v1/apps/{app}/versions/1")
        assert v1["compose"] == SLEEPER_COMPOSE, v1["compose"]
        assert "GREETING=from-the-browser" in v1["env"] and v1["message"] == "composed in the browser", v1
    finally:
        if _app_status(stack, admin_token, app) == 200:
            stack.act(admin_token, app, "remove", remove_volumes="true")


def test_a_refused_compose_file_shows_why_and_creates_nothing(
    stack: Stack, admin_token: str, page: Page
) -> None:
    app = _name("bad")
    sign_in(page, stack.url, "admin", stack.admin_password())
    _open_new_app_from_compose(page, stack)
    page.get_by_label("App name").fill(app)
    replace_editor(page, "new-compose-editor", HOST_BIND_COMPOSE)
    page.get_by_role("button", name="Create and deploy", exact=True).click()
    form = page.get_by_role("form", name="New app from compose")
    alert = form.get_by_role("alert")
    expect(alert).to_contain_text("compose policy")  # the rule the policy applies, and what broke it
    expect(alert).to_contain_text("/etc")
    expect(alert).to_contain_text(re.compile(r"request id \S+"))
    expect(page.get_by_test_id("new-compose-editor").locator("..")).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(re.compile(r"/new-app$"))  # still here, with what was typed
    expect(page.get_by_label("App name")).to_have_value(app)
    assert _app_status(stack, admin_token, app) == 404

    replace_editor(page, "new-compose-editor", "services: [unclosed\n")  # not even YAML
    page.get_by_role("button", name="Create and deploy", exact=True).click()
    expect(alert).not_to_contain_text("compose policy")
    expect(alert).to_contain_text("compose file")
    assert _app_status(stack, admin_token, app) == 404
    nav_link(page, "Apps").click()  # what was typed is not saved anywhere: the page asks first
    page.get_by_role("dialog").get_by_role("button", name="Leave and lose the new app's files").click()
    expect(page.get_by_role("heading", name="Apps")).to_be_visible()
    expect(page.get_by_role("link", name=app, exact=True)).to_have_count(0)


PRIVILEGED_COMPOSE = """services:
  main:
    image: appos-test/busybox:latest
    pull_policy: never
    privileged: true
    command: ["sleep", "3600"]
"""


def test_the_new_app_editor_checks_the_file_as_you_type(
    stack: Stack, admin_token: str, make_user: MakeUser, page: Page
) -> None:
    app = _name("live")
    operator = make_user("operator")  # the advice is for someone who cannot allow the rule
    sign_in(page, stack.url, operator.username, operator.password)
    _open_new_app_from_compose(page, stack)
    page.get_by_label("App name").fill(app)
    replace_editor(page, "new-compose-editor", PRIVILEGED_COMPOSE)
    check = page.get_by_test_id("compose-check")
    refusal = page.get_by_test_id("compose-check-refusals").get_by_role("listitem")
    expect(refusal).to_contain_text("privileged is not allowed", timeout=15_000)
    expect(refusal.get_by_text("privileged", exact=True)).to_be_visible()  # the rule, as a tag
    expect(check).to_contain_text("ask an admin to allow the rule")
    expect(page.get_by_role("button", name="Create and deploy", exact=True)).to_be_enabled()

    replace_editor(page, "new-compose-editor", PRIVILEGED_COMPOSE.replace("    privileged: true\n", ""))
    expect(check).to_contain_text("Valid — 1 service (main)", timeout=15_000)
    expect(page.get_by_test_id("compose-check-refusals")).to_have_count(0)
    assert _app_status(stack, admin_token, app) == 404, "checking stores nothing"


def test_a_viewer_is_not_offered_a_new_app_from_compose(
    stack: Stack, make_user: MakeUser, page: Page
) -> None:
    viewer = make_user("viewer")
    sign_in(page, stack.url, viewer.username, viewer.password)
    nav_link(page, "Apps").click()
    expect(page.get_by_role("heading", name="Apps")).to_be_visible()
    expect(page.get_by_role("link", name="New app from compose")).to_have_count(0)
    page.goto(stack.url + "/new-app")  # typed by hand: a clear refusal, and no form
    expect(page.get_by_role("alert")).to_contain_text("needs the operator role")
    expect(page.get_by_role("button", name="Create and deploy")).to_have_count(0)


# ---- an app's lifecycle buttons ----------------------------------------------------------------


def _do(page: Page, button: str) -> None:
    page.get_by_role("button", name=button, exact=True).click()
    confirm_dialog(page)


def test_stop_start_restart_and_remove_an_app(stack: Stack, admin_token: str, page: Page) -> None:
    app = _name("life")
    _, deployment = stack.deploy(
        admin_token,
        {"name": app, "template": TEMPLATE, "settings": {"HTTP_PORT": str(free_port()), "MESSAGE": "life"}},
    )
    assert deployment["status"] == "succeeded", f"{deployment['status']}: {deployment.get('reason')}"
    try:
        sign_in(page, stack.url, "admin", stack.admin_password())
        open_app(page, stack.url, app)
        status = page.get_by_test_id("app-status")
        expect(status).to_have_text("running", timeout=60_000)

        _do(page, "Stop")
        expect(status).to_have_text("stopped", timeout=60_000)
        assert _get(stack, admin_token, f"/api/v1/apps/{app}")["status"] == "stopped"

        _do(page, "Start")
        expect(status).to_have_text("running", timeout=60_000)
        assert _get(stack, admin_token, f"/api/v1/apps/{app}")["status"] == "running"

        before = _get(stack, admin_token, f"/api/v1/deployments?app={app}")
        _do(page, "Restart")
        last = page.get_by_role("status").filter(has_text="restart")
        expect(last).to_contain_text("succeeded", timeout=60_000)
        expect(status).to_have_text("running", timeout=60_000)
        after = _get(stack, admin_token, f"/api/v1/deployments?app={app}")
        restarts = [d for d in after["deployments"] if d["action"] == "restart"]
        assert len(after["deployments"]) == len(before["deployments"]) + 1, after
        assert [d["status"] for d in restarts] == ["succeeded"], restarts

        page.get_by_role("button", name="Remove", exact=True).click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text(f"Remove {app}?")
        dialog.get_by_label("Also delete its volumes").check()
        dialog.get_by_role("button", name="Confirm", exact=True).click()
        expect(dialog).to_be_hidden()
        expect(page).to_have_url(re.compile(r"/apps$"))
        expect(page.get_by_role("link", name=app, exact=True)).to_have_count(0, timeout=60_000)
        wait_for(lambda: _app_status(stack, admin_token, app) == 404, timeout=60, what=f"{app} to be gone")
        page.reload()
        expect(page.get_by_role("heading", name="Apps")).to_be_visible()
        expect(page.get_by_role("link", name=app, exact=True)).to_have_count(0)
    finally:
        if _app_status(stack, admin_token, app) == 200:
            stack.act(admin_token, app, "remove", remove_volumes="true")


# ---- backups and the audit log -----------------------------------------------------------------

BACKUP_TIMEOUT = 120_000  # ms


def _backups(stack: Stack, token: str) -> list[dict[str, Any]]:
    backups: list[dict[str, Any]] = _get(stack, token, "/api/v1/backups").get("backups", [])
    return backups


def test_create_a_backup_and_find_it_in_the_audit_log(stack: Stack, admin_token: str, page: Page) -> None:
    note = f"e2e backup {uuid.uuid4().hex[:8]}"
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Backups").click()
    expect(page.get_by_role("heading", name="Backups")).to_be_visible()
    page.get_by_label("Note").fill(note)
    page.get_by_role("button", name="Create backup", exact=True).click()
    row = page.get_by_role("row").filter(has_text=note)
    try:
        expect(row).to_be_visible()
        expect(row).to_contain_text("by admin")
        expect(row.get_by_role("cell").nth(1)).to_contain_text("succeeded", timeout=BACKUP_TIMEOUT)
        expect(row.get_by_role("button", name="Restore", exact=True)).to_be_enabled()
        [made] = [b for b in _backups(stack, admin_token) if b.get("message") == note]
        assert made["status"] == "succeeded" and made["actor"] == "admin", made
        expect(page.get_by_label("Note")).to_have_value("")  # ready for the next one

        nav_link(page, "Audit").click()
        expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
        page.get_by_label("Action").fill("appos.v1.Backups.CreateBackup")
        page.get_by_role("button", name="Filter", exact=True).click()
        entries = _get(stack, admin_token, "/api/v1/audit?action=appos.v1.Backups.CreateBackup")["entries"]
        assert entries and entries[0]["actor"] == "admin" and entries[0]["result"] == "ok", entries[0]
        rows = page.get_by_role("row").filter(has_text="Backups.CreateBackup")
        expect(rows).to_have_count(len(entries))  # the filter: only backup creations are listed
        expect(page.get_by_role("row").filter(has_text="Apps.CreateApp")).to_have_count(0)
        expect(rows.first).to_contain_text("admin")
        expect(rows.first.get_by_role("cell").nth(4)).to_have_text("Done")  # the result in words
    finally:
        for backup in _backups(stack, admin_token):
            if backup.get("message") == note:
                with stack.client(admin_token) as c:
                    c.delete(f"/api/v1/backups/{backup['id']}")


def _schedule_of(settings: dict[str, Any]) -> tuple[str, int, bool]:
    """What the form sets (next_run follows from the schedule and the clock)."""
    return settings.get("schedule", ""), settings.get("retention", 0), settings.get("include_volumes", False)


def _stored_schedule(stack: Stack, token: str) -> tuple[str, int, bool]:
    return _schedule_of(_get(stack, token, "/api/v1/backups/settings"))


def test_save_the_backup_schedule_and_refuse_an_empty_retention(
    stack: Stack, admin_token: str, page: Page
) -> None:
    before = _get(stack, admin_token, "/api/v1/backups/settings")
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Backups").click()
    form = page.get_by_role("form", name="Backup schedule")
    schedule, retention = form.get_by_label("When"), form.get_by_label("Keep (0: all)")
    expect(retention).to_have_value(str(before.get("retention", 0)))
    try:
        schedule.fill("every:12")
        retention.fill("500")  # more than this stack makes: applying it deletes nothing
        form.get_by_role("button", name="Save schedule", exact=True).click()
        expect(form.get_by_text("Saved.")).to_be_visible()
        saved = _get(stack, admin_token, "/api/v1/backups/settings")
        assert saved["schedule"] == "every:12" and saved["retention"] == 500, saved
        assert saved.get("next_run"), saved  # a schedule: the next run is known
        page.reload()
        expect(retention).to_have_value("500")
        expect(schedule).to_have_value("every:12")
        expect(page.get_by_text("Next backup")).to_be_visible()

        retention.fill("")  # empty is not "0, keep all": refused at the field, nothing sent
        schedule.fill("daily@04:30")
        form.get_by_role("button", name="Save schedule", exact=True).click()
        expect(form.get_by_text("Enter how many backups to keep (0 keeps them all).")).to_be_visible()
        expect(retention).to_have_attribute("aria-invalid", "true")
        expect(form.get_by_text("Saved.")).to_have_count(0)
        assert _stored_schedule(stack, admin_token) == _schedule_of(saved)

        retention.fill("7")
        schedule.fill("hourly")  # the server's refusal, readable
        form.get_by_role("button", name="Save schedule", exact=True).click()
        expect(form.get_by_role("alert")).to_contain_text("schedule")
        expect(retention).not_to_have_attribute("aria-invalid", "true")
        assert _stored_schedule(stack, admin_token) == _schedule_of(saved)
    finally:
        restore = {
            k: before.get(k, d) for k, d in (("schedule", ""), ("retention", 0), ("include_volumes", False))
        }
        with stack.client(admin_token) as c:
            assert c.put("/api/v1/backups/settings", json=restore).status_code == 200


# ---- generated secrets -------------------------------------------------------------------------


def test_generated_secrets_are_shown_once_after_a_catalog_deploy(
    stack: Stack, admin_token: str, page: Page
) -> None:
    app = _name("sec")
    sign_in(page, stack.url, "admin", stack.admin_password())
    page.goto(f"{stack.url}/catalog/{TEMPLATE}")
    page.get_by_label("App name").fill(app)
    page.get_by_label("HTTP_PORT").fill(str(free_port()))
    expect(page.get_by_label("SECRET")).to_have_value("")  # left empty: AppOS generates it
    page.get_by_role("button", name="Deploy", exact=True).click()
    try:
        page.wait_for_url(re.compile(rf"/apps/{app}/deployments/[^/?#]+"))
        secrets = page.get_by_test_id("generated-secrets")
        expect(secrets).to_contain_text("Generated secrets — shown once")
        shown = page.get_by_test_id("generated-SECRET").inner_text().strip()
        assert len(shown) >= 16, shown
        expect(page.get_by_test_id("deployment-status")).to_contain_text(
            "succeeded", ignore_case=True, timeout=DEPLOY_TIMEOUT
        )
        env = _get(stack, admin_token, f"/api/v1/apps/{app}/compose")["env"]
        assert f'SECRET="{shown}"' in env or f"SECRET={shown}" in env, "the shown secret is not the app's"
        stored = page.evaluate(
            "() => JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})"
        )
        assert shown not in stored  # kept in memory only, never in the browser's storage

        page.reload()
        expect(page.get_by_test_id("deployment-status")).to_contain_text("succeeded", ignore_case=True)
        expect(secrets).to_have_count(0)
        expect(page.get_by_text(shown)).to_have_count(0)
    finally:
        if _app_status(stack, admin_token, app) == 200:
            stack.act(admin_token, app, "remove", remove_volumes="true")


# ---- users, tokens, domains --------------------------------------------------------------------


def test_an_admin_adds_a_user(stack: Stack, admin_token: str, page: Page) -> None:
    username, password = _name("new"), f"pw-{uuid.uuid4().hex[:10]}"
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Users").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    try:
        page.get_by_label("New username").fill(username)
        page.get_by_label("New password").fill(password)
        page.get_by_label("Role", exact=True).select_option("operator")
        page.get_by_role("button", name="Add user", exact=True).click()
        row = page.get_by_role("row").filter(has_text=username)
        expect(row).to_be_visible()
        expect(row.get_by_label(f"Role of {username}")).to_have_value("operator")
        expect(page.get_by_label("New username")).to_have_value("")  # the form is ready for the next
        assert _get(stack, admin_token, f"/api/v1/users/{username}")["role"] == "operator"
        assert _status_of_login(stack, username, password) == 200
    finally:
        _delete_user(stack, admin_token, username)


def test_create_use_and_revoke_a_token(stack: Stack, make_user: MakeUser, page: Page) -> None:
    owner = make_user("operator")
    name = _name("ci")
    sign_in(page, stack.url, owner.username, owner.password)
    nav_link(page, "Tokens").click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    page.get_by_label("Token name").fill(name)
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Create token", exact=True).click()
    shown = page.get_by_test_id("token-secret")
    expect(shown).to_be_visible()
    secret = shown.inner_text().strip()
    assert secret.startswith("appos_"), secret
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("viewer")
    expect(row).not_to_contain_text(secret)  # only its prefix is listed

    with stack.client(secret) as c:
        me = c.get("/api/v1/auth/me")
        assert me.status_code == 200, me.text
        assert me.json()["username"] == owner.username
        assert c.get("/api/v1/apps").status_code == 200  # a viewer's read
        refused = c.post("/api/v1/users", json={"username": "x", "password": "x" * 12, "role": "viewer"})
        assert refused.status_code == 403, refused.text  # never above its role

    page.reload()
    expect(shown).to_have_count(0)  # shown once: gone after a reload
    row.get_by_role("button", name="Revoke", exact=True).click()
    confirm_dialog(page)
    expect(row.get_by_role("button", name="Revoke", exact=True)).to_have_count(0)
    with stack.client(secret) as c:
        after = c.get("/api/v1/auth/me")
    assert after.status_code == 401, after.text
    assert after.json()["code"] == "unauthenticated", after.text


def test_an_invalid_domain_shows_the_servers_error(
    stack: Stack, admin_token: str, app: str, page: Page
) -> None:
    before = {d["domain"] for d in _get(stack, admin_token, "/api/v1/proxy/domains").get("domains", [])}
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Domains").click()
    expect(page.get_by_role("heading", name="Domains")).to_be_visible()
    page.get_by_label("App", exact=True).select_option(app)
    expect(page.get_by_label("Service", exact=True)).to_have_value("web")
    expect(page.get_by_label("Container port")).to_have_value("8080")
    page.get_by_label("Domain", exact=True).fill("bad_name.example")
    page.get_by_role("button", name="Add domain", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("is not a valid domain name")
    expect(alert).to_contain_text(re.compile(r"request id \S+"))
    expect(page.get_by_label("Domain", exact=True)).to_have_value("bad_name.example")  # kept to fix
    after = {d["domain"] for d in _get(stack, admin_token, "/api/v1/proxy/domains").get("domains", [])}
    assert after == before


def test_a_name_that_does_not_resolve_offers_to_check_again_or_go_without_https(
    stack: Stack, admin_token: str, app: str, page: Page
) -> None:
    name = f"nowhere-{uuid.uuid4().hex[:6]}.invalid"  # never resolves (RFC 6761)
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Domains").click()
    page.get_by_label("App", exact=True).select_option(app)
    expect(page.get_by_label("Service", exact=True)).to_have_value("web")
    page.get_by_label("Domain", exact=True).fill(name)
    page.get_by_role("button", name="Add domain", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert.get_by_test_id("error-summary")).to_contain_text(f"{name} does not point to an address yet")
    expect(alert.get_by_test_id("error-summary")).not_to_contain_text("gaierror")
    expect(alert.get_by_role("button", name="Check again")).to_be_enabled()
    try:
        alert.get_by_role("button", name="Add it without HTTPS for now").click()
        expect(page.get_by_role("row").filter(has_text=name)).to_be_visible()
        listed = _get(stack, admin_token, "/api/v1/proxy/domains").get("domains", [])
        stored = {d["domain"]: d for d in listed}
        assert stored[name].get("https", False) is False, stored[name]
        expect(page.get_by_role("alert")).to_have_count(0)  # the error is gone once it worked
    finally:
        with stack.client(admin_token) as c:
            c.delete(f"/api/v1/proxy/domains/{name}")


# ---- the compose editor's refusals -------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_app(stack: Stack, admin_token: str, busybox_image: str) -> Iterator[str]:
    """An app of the compose-editor tests' own: they add versions behind the page's back."""
    yield from _deployed_app(stack, admin_token, "ce", "edit")


def _versions(stack: Stack, token: str, app: str) -> list[tuple[int, str]]:
    return [(v["number"], v["hash"]) for v in _get(stack, token, f"/api/v1/apps/{app}/versions")["versions"]]


def _open_compose(page: Page, stack: Stack, app: str) -> Locator:
    open_app(page, stack.url, app)
    open_tab(page, "Compose")
    content = page.get_by_test_id("compose-editor").locator(".cm-content")
    expect(content).to_contain_text("services:")
    return content


def test_a_compose_save_the_server_refuses_shows_why_and_stores_nothing(
    stack: Stack, admin_token: str, compose_app: str, page: Page
) -> None:
    app = compose_app
    before = _versions(stack, admin_token, app)
    sign_in(page, stack.url, "admin", stack.admin_password())
    _open_compose(page, stack, app)
    replace_editor(page, "compose-editor", HOST_BIND_COMPOSE)
    page.get_by_label("Change message").fill("mount the host's /etc")
    page.get_by_role("button", name="Save", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("compose policy")
    expect(alert).to_contain_text("/etc")
    expect(alert).to_contain_text(re.compile(r"request id \S+"))
    expect(page.get_by_text(re.compile(r"Saved version \d"))).to_have_count(0)
    expect(page.get_by_label("Change message")).to_have_value("mount the host's /etc")  # kept to retry
    assert _versions(stack, admin_token, app) == before

    replace_editor(page, "compose-editor", "services:\n  web:\n    image: x\nbogus_key: 1\n")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(alert).not_to_contain_text("compose policy")
    expect(alert).to_contain_text("bogus_key")
    assert _versions(stack, admin_token, app) == before
    assert _get(stack, admin_token, f"/api/v1/apps/{app}")["status"] == "running"


def test_a_stale_compose_edit_is_refused_and_offers_the_newest_version(
    stack: Stack, admin_token: str, compose_app: str, page: Page
) -> None:
    app = compose_app
    marker = f"# changed behind the page {uuid.uuid4().hex[:6]}"
    sign_in(page, stack.url, "admin", stack.admin_password())
    _open_compose(page, stack, app)
    append_to_editor(page, "compose-editor", "\n# the page's own edit\n")
    with stack.client(admin_token) as c:  # someone else saves first
        current = c.get(f"/api/v1/apps/{app}/compose")
        r = c.put(
            f"/api/v1/apps/{app}/compose",
            json={"compose": current.json()["compose"] + marker + "\n", "env": current.json()["env"]},
            headers={"If-Match": current.headers["etag"]},
        )
    assert r.status_code == 200, r.text
    theirs = r.json()["version"]["number"]
    before = _versions(stack, admin_token, app)

    page.get_by_role("button", name="Save", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert.get_by_test_id("error-summary")).to_contain_text(
        f"Version {theirs} of {app} was saved while you were editing"
    )
    expect(alert.get_by_test_id("error-summary")).not_to_contain_text("ETag")
    expect(alert).to_contain_text(f"is at v{theirs}")  # the server's words, on demand
    assert _versions(stack, admin_token, app) == before, "nothing was overwritten"
    stored = _get(stack, admin_token, f"/api/v1/apps/{app}/versions/{theirs}")
    assert marker in stored["compose"] and "the page's own edit" not in stored["compose"]

    page.get_by_role("button", name=re.compile("Load the newest version")).click()
    content = page.get_by_test_id("compose-editor").locator(".cm-content")
    expect(content).to_contain_text(marker.removeprefix("# "))
    expect(content).not_to_contain_text("the page's own edit")
    expect(alert).to_have_count(0)
    # the editor's header names the version it holds (the "saved, not deployed" notice names it too)
    expect(page.get_by_text(re.compile(rf"^Version {theirs}\. Saving")).first).to_be_visible()
    expect(page.get_by_text(f"Version {theirs} is saved, not deployed")).to_be_visible()


def test_after_a_stale_edit_the_page_can_keep_its_edits_and_save_them(
    stack: Stack, admin_token: str, compose_app: str, page: Page
) -> None:
    app = compose_app
    mine = f"# the page's own edit {uuid.uuid4().hex[:6]}"
    sign_in(page, stack.url, "admin", stack.admin_password())
    _open_compose(page, stack, app)
    append_to_editor(page, "compose-editor", f"\n{mine}\n")
    with stack.client(admin_token) as c:  # someone else saves first
        current = c.get(f"/api/v1/apps/{app}/compose")
        r = c.put(
            f"/api/v1/apps/{app}/compose",
            json={"compose": current.json()["compose"] + "# theirs\n", "env": current.json()["env"]},
            headers={"If-Match": current.headers["etag"]},
        )
    assert r.status_code == 200, r.text
    theirs = r.json()["version"]["number"]
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("button", name=re.compile("Keep my edits")).click()
    content = page.get_by_test_id("compose-editor").locator(".cm-content")
    expect(page.get_by_text(f"Version {theirs}. Saving stores")).to_be_visible()  # the newest is loaded
    expect(content).to_contain_text(mine.removeprefix("# "))  # under the page's own edit
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text(f"Saved version {theirs + 1}")).to_be_visible()
    stored = _get(stack, admin_token, f"/api/v1/apps/{app}/versions/{theirs + 1}")
    assert mine in stored["compose"], stored["compose"]


# ---- the app's usage plot ----------------------------------------------------------------------


def test_the_overview_plots_the_running_apps_cpu_and_memory(
    stack: Stack, admin_token: str, app: str, page: Page
) -> None:
    measured = _get(stack, admin_token, f"/api/v1/apps/{app}/stats")
    assert sum(int(c.get("memory_bytes", 0)) for c in measured["containers"]) > 0, measured
    sign_in(page, stack.url, "admin", stack.admin_password())
    open_app(page, stack.url, app)
    usage = page.get_by_role("figure").filter(has_text="Memory")
    expect(usage).to_be_visible()
    # the memory now, as a number with a unit, and a line once two samples are in
    expect(usage.locator("figcaption")).to_contain_text(re.compile(r"Memory\s*[1-9][\d.]* (B|KiB|MiB|GiB)"))
    line = usage.get_by_role("img", name="Memory over the last minutes").locator("path[fill='none']")
    expect(line).to_have_attribute("d", re.compile(r"^M[\d.]+,[\d.]+ L[\d.]+,[\d.]+"), timeout=30_000)
    cpu = page.get_by_role("figure").filter(has_text="CPU")
    expect(cpu.locator("figcaption")).to_contain_text(re.compile(r"CPU\s*\d+\.\d %"))
    expect(page.get_by_role("row").filter(has_text="web")).to_contain_text(
        re.compile(r"\d+\.\d % · [\d.]+ \w+")
    )


# ---- phone width -------------------------------------------------------------------------------


def _assert_fits(page: Page, where: str) -> None:
    measured = horizontal_overflow(page)
    assert measured["scroll_width"] <= measured["viewport"] + 1, f"{where} is wider than a phone: {measured}"


def test_app_deployments_and_backups_pages_fit_a_phone(
    stack: Stack, admin_token: str, app: str, new_page: NewPage
) -> None:
    page = new_page(PHONE)
    sign_in(page, stack.url, "admin", stack.admin_password())
    open_app(page, stack.url, app)
    expect(page.get_by_test_id("app-status")).to_contain_text("running", ignore_case=True)
    expect(page.get_by_role("button", name="Restart", exact=True)).to_be_visible()
    _assert_fits(page, "the app's overview")

    open_tab(page, "Deployments")
    expect(page.get_by_role("link").filter(has_text="deploy").first).to_be_visible()
    _assert_fits(page, "the app's deployments")

    menu = page.get_by_role("button", name="Open menu")
    menu.click()
    expect(page.get_by_role("button", name="Close menu")).to_have_attribute("aria-expanded", "true")
    nav_link(page, "Deployments").click()
    expect(page.get_by_role("heading", name="Deployments")).to_be_visible()
    expect(page.get_by_role("button", name="Close menu")).to_have_count(0)  # the menu closes on the way
    _assert_fits(page, "the deployments page")

    page.get_by_role("button", name="Open menu").click()
    nav_link(page, "Backups").click()
    expect(page.get_by_role("heading", name="Backups")).to_be_visible()
    expect(page.get_by_role("button", name="Create backup", exact=True)).to_be_visible()
    expect(page.get_by_role("form", name="Backup schedule").get_by_label("When")).to_be_visible()
    _assert_fits(page, "the backups page")


# ---- secrets in a version diff -----------------------------------------------------------------


def test_an_admin_shows_the_secrets_in_a_diff_and_an_operator_cannot(
    stack: Stack, admin_token: str, compose_app: str, make_user: MakeUser, page: Page, new_page: NewPage
) -> None:
    app = compose_app
    secret = f"e2e-secret-{uuid.uuid4().hex[:8]}"
    with stack.client(admin_token) as c:  # a stored (not deployed) version that adds a secret
        current = c.get(f"/api/v1/apps/{app}/compose")
        files = current.json()
        r = c.put(
            f"/api/v1/apps/{app}/compose",
            json={"compose": files["compose"], "env": files["env"] + f"E2E_API_TOKEN={secret}\n"},
            headers={"If-Match": current.headers["etag"]},
        )
    assert r.status_code == 200, r.text
    number = r.json()["version"]["number"]

    sign_in(page, stack.url, "admin", stack.admin_password())
    open_app(page, stack.url, app)
    open_tab(page, "History")
    page.get_by_test_id(f"version-{number}").get_by_role("button", name="Diff", exact=True).click()
    view = page.get_by_test_id("diff-view")
    expect(view).to_contain_text("E2E_API_TOKEN=********")
    expect(view).not_to_contain_text(secret)
    view.get_by_role("button", name="Show secrets", exact=True).click()
    expect(view).to_contain_text(f"E2E_API_TOKEN={secret}")
    hide = view.get_by_role("button", name="Hide secrets", exact=True)
    expect(hide).to_have_attribute("aria-pressed", "true")
    hide.click()
    expect(view).to_contain_text("E2E_API_TOKEN=********")
    expect(view).not_to_contain_text(secret)

    operator = make_user("operator")
    # the server refuses an operator whatever the page offers
    with stack.client(stack.login(operator.username, operator.password)) as c:
        refused = c.get(f"/api/v1/apps/{app}/versions/{number}/diff", params={"reveal_secrets": "true"})
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] and secret not in refused.text
    other = new_page()
    sign_in(other, stack.url, operator.username, operator.password)
    open_app(other, stack.url, app)
    open_tab(other, "History")
    other.get_by_test_id(f"version-{number}").get_by_role("button", name="Diff", exact=True).click()
    expect(other.get_by_test_id("diff-view")).to_contain_text("E2E_API_TOKEN=********")
    expect(other.get_by_role("button", name=re.compile("secrets"))).to_have_count(0)
    expect(other.get_by_test_id("diff-view")).not_to_contain_text(secret)
