"""Issue 17, the parts that had only unit or Vitest tests, in real Chromium against the real stack:
"2 of 3 running" for an app with one of three services stopped, the notice of a deploy under way,
the apps list's "version N saved, not deployed", a cron line as the backup schedule with its next
run, copy buttons (a new API token, a generated secret, a webhook secret) and "Open" links for an
app's published ports and after a successful deploy.

The REST API and Docker set up (apps, a stopped container, a deploy held until the test lets it
finish) and check what the UI did."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import confirm_dialog, nav_link, open_app, sign_in
from tests.harness import Stack, docker_client, free_port, wait_for

pytestmark = [pytest.mark.xdist_group("browser")]

DEPLOY_TIMEOUT = 120_000  # ms: a deployment's whole run, in the browser's clock
IMAGE = "appos-test/busybox:latest"

# Three services that only sleep (init: true, so a stop ends them with SIGTERM, not a crash).
THREE = "services:\n" + "".join(
    f"  {s}:\n    image: {IMAGE}\n    pull_policy: never\n    init: true\n"
    '    command: ["sleep", "3600"]\n    restart: "no"\n'
    for s in ("alpha", "beta", "gamma")
)

# A service that stays "starting" until the test creates /tmp/ready in it: the deploy (compose up
# --wait) is under way for as long as the test needs to look at it, with no clock involved.
GATED = f"""services:
  web:
    image: {IMAGE}
    pull_policy: never
    init: true
    command: ["sh", "-c", "mkdir -p /tmp && exec sleep 3600"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      timeout: 2s
      retries: 500
"""


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def _get(stack: Stack, token: str, path: str) -> Any:
    with stack.client(token) as c:
        r = c.get(path)
    assert r.status_code == 200, r.text
    return r.json()


def _container(app: str, service: str) -> Any:
    """The Docker container of an app's service (Compose project `appos-<app>`), or None."""
    import docker

    client = docker_client()
    try:
        return client.containers.get(f"appos-{app}-{service}-1")
    except docker.errors.NotFound:
        return None
    finally:
        client.close()


@pytest.fixture(scope="module")
def three(stack: Stack, admin_token: str, busybox_image: str) -> Iterator[str]:
    """An app of three services, all running."""
    name = _name("tri")
    _, deployment = stack.deploy(admin_token, {"name": name, "compose": THREE, "env": ""})
    assert deployment["status"] == "succeeded", deployment
    yield name
    stack.remove_app(admin_token, name)


@pytest.fixture
def web_app(stack: Stack, admin_token: str, busybox_image: str) -> Iterator[tuple[str, int]]:
    """A busybox-httpd app and the host port it publishes."""
    name, port = _name("op"), free_port()
    body = {"name": name, "template": "busybox-httpd", "settings": {"HTTP_PORT": str(port), "MESSAGE": name}}
    _, deployment = stack.deploy(admin_token, body)
    assert deployment["status"] == "succeeded", deployment
    yield name, port
    stack.remove_app(admin_token, name)


# ---- "2 of 3 running" --------------------------------------------------------------------------


def test_one_of_three_services_stopped_reads_2_of_3_running(
    stack: Stack, admin_token: str, three: str, page: Page
) -> None:
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Apps").click()
    listed = page.get_by_test_id(f"app-status-{three}")
    expect(listed).to_have_text("running")

    container = _container(three, "beta")
    assert container is not None
    container.stop(timeout=10)
    wait_for(
        lambda: _get(stack, admin_token, f"/api/v1/apps/{three}")["status"] == "partially_running",
        timeout=30,
        what="the server to see one service stopped",
    )

    expect(listed).to_have_text("2 of 3 running")  # the list follows without a reload
    expect(listed).not_to_contain_text("partially")
    row = page.get_by_role("row").filter(has=listed)
    expect(row).to_contain_text("not running: beta")
    page.reload()
    expect(listed).to_have_text("2 of 3 running")

    open_app(page, stack.url, three)
    expect(page.get_by_test_id("app-status")).to_have_text("2 of 3 running")
    expect(page.get_by_role("main")).not_to_contain_text("partially_running")
    # something runs and something does not: each of Start, Stop and Restart can work
    for label in ("Start", "Stop", "Restart"):
        expect(page.get_by_role("button", name=label, exact=True)).to_be_enabled()


# ---- a saved version, not deployed, in the apps list -------------------------------------------


def test_the_apps_list_notes_a_version_saved_and_not_deployed(
    stack: Stack, admin_token: str, three: str, page: Page
) -> None:
    with stack.client(admin_token) as c:
        r = c.get(f"/api/v1/apps/{three}/compose")
        current, etag = r.json(), r.headers["etag"]
        r = c.put(
            f"/api/v1/apps/{three}/compose",
            json={"compose": current["compose"] + "# saved\n", "env": current["env"], "message": "later"},
            headers={"If-Match": etag},
        )
    assert r.status_code == 200, r.text
    app = _get(stack, admin_token, f"/api/v1/apps/{three}")
    saved = app["current_version"]
    assert saved > app["last_good_version"], app

    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Apps").click()
    notes = page.get_by_test_id(f"app-notes-{three}")
    expect(notes).to_have_text(f"version {saved} saved, not deployed")

    # the app's page says the same, with the one button that deploys it
    page.get_by_role("link", name=three, exact=True).click()
    notice = page.get_by_test_id("undeployed-version")
    expect(notice).to_contain_text(f"Version {saved} is saved, not deployed")
    expect(notice.get_by_role("button", name=f"Deploy v{saved}", exact=True)).to_be_enabled()


# ---- a deploy under way ------------------------------------------------------------------------


def test_a_deploy_under_way_says_which_version_until_it_ends(
    stack: Stack, admin_token: str, busybox_image: str, page: Page
) -> None:
    app = _name("dep")
    with stack.client(admin_token) as c:
        r = c.post("/api/v1/apps", json={"name": app, "compose": GATED, "env": ""})
    assert r.status_code == 202, r.text
    deployment_id = r.json()["deployment"]["id"]
    try:
        sign_in(page, stack.url, "admin", stack.admin_password())
        nav_link(page, "Apps").click()
        expect(page.get_by_test_id(f"app-status-{app}")).to_have_text("deploying")
        row = page.get_by_role("row").filter(has=page.get_by_test_id(f"app-status-{app}"))
        expect(row).to_contain_text("deploying version 1")

        open_app(page, stack.url, app)
        expect(page.get_by_test_id("app-status")).to_have_text("deploying")
        notice = page.get_by_test_id("app-deploying")
        expect(notice).to_contain_text("Deploy of version 1 is under way.")
        follow = notice.get_by_role("link", name="Follow the deployment")
        expect(follow).to_have_attribute("href", re.compile(rf"/apps/{app}/deployments/{deployment_id}$"))
        for label in ("Start", "Stop", "Restart", "Redeploy"):  # nothing else while it runs
            expect(page.get_by_role("button", name=label, exact=True)).to_be_disabled()
        page.reload()  # it comes from the server, not from this tab's memory
        expect(notice).to_contain_text("Deploy of version 1 is under way.")

        _let_it_finish(app)
        assert stack.wait_deployment(admin_token, deployment_id)["status"] == "succeeded"
        expect(page.get_by_test_id("app-status")).to_have_text("running", timeout=30_000)
        expect(notice).to_have_count(0)
        expect(page.get_by_role("button", name="Stop", exact=True)).to_be_enabled()
    finally:
        _let_it_finish(app)
        stack.remove_app(admin_token, app)


def _let_it_finish(app: str) -> None:
    """Make the gated service healthy (its container exists once Compose has created it)."""

    def created() -> Any:
        container = _container(app, "web")
        return container if container is not None and container.status == "running" else None

    container = wait_for(created, timeout=60, interval=0.3, what=f"{app}'s container")
    result = container.exec_run(["touch", "/tmp/ready"])
    assert result.exit_code == 0, result.output


# ---- the backup schedule as a cron line --------------------------------------------------------


def test_the_backup_schedule_takes_a_cron_line_and_shows_the_next_run(
    stack: Stack, admin_token: str, page: Page
) -> None:
    before = _get(stack, admin_token, "/api/v1/backups/settings")
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Backups").click()
    form = page.get_by_role("form", name="Backup schedule")
    schedule, retention = form.get_by_label("When"), form.get_by_label("Keep (0: all)")
    expect(form).to_contain_text("a cron line")  # the form says which forms it takes
    try:
        schedule.fill("0 3 * * 1")  # Mondays at 03:00 UTC
        retention.fill("500")  # more than this stack makes: applying it deletes nothing
        form.get_by_role("button", name="Save schedule", exact=True).click()
        expect(form.get_by_text("Saved.")).to_be_visible()
        saved = _get(stack, admin_token, "/api/v1/backups/settings")
        assert saved["schedule"] == "0 3 * * 1", saved
        next_run = datetime.fromisoformat(saved["next_run"].replace("Z", "+00:00")).astimezone(UTC)
        assert (next_run.weekday(), next_run.hour, next_run.minute) == (0, 3, 0), next_run
        assert next_run > datetime.now(UTC), next_run

        # the page shows that run, in the browser's own words for the time
        shown = page.evaluate(
            "t => new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })",
            saved["next_run"],
        )
        expect(page.get_by_test_id("backup-next-run")).to_have_text(f"Next backup {shown}.")
        page.reload()
        expect(schedule).to_have_value("0 3 * * 1")
        expect(page.get_by_test_id("backup-next-run")).to_have_text(f"Next backup {shown}.")

        schedule.fill("*/5 * * * *")  # more often than hourly: refused, readable, nothing stored
        form.get_by_role("button", name="Save schedule", exact=True).click()
        expect(form.get_by_role("alert")).to_contain_text("hour")
        expect(form.get_by_text("Saved.")).to_have_count(0)
        assert _get(stack, admin_token, "/api/v1/backups/settings")["schedule"] == "0 3 * * 1"
    finally:
        restore = {
            k: before.get(k, d) for k, d in (("schedule", ""), ("retention", 0), ("include_volumes", False))
        }
        with stack.client(admin_token) as c:
            assert c.put("/api/v1/backups/settings", json=restore).status_code == 200


# ---- copy buttons ------------------------------------------------------------------------------


def _grant_clipboard(page: Page, stack: Stack) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.url)


def _clipboard(page: Page) -> str:
    return str(page.evaluate("() => navigator.clipboard.readText()"))


def test_the_copy_button_puts_a_new_token_on_the_clipboard(stack: Stack, page: Page) -> None:
    _grant_clipboard(page, stack)
    name = _name("cp")
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Tokens").click()
    page.get_by_label("Token name").fill(name)
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Create token", exact=True).click()
    shown = page.get_by_test_id("token-secret")
    expect(shown).to_be_visible()
    secret = shown.inner_text().strip()
    assert secret.startswith("appos_"), secret

    copy = page.get_by_role("button", name="Copy token", exact=True)
    expect(copy).to_have_text("Copy")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert _clipboard(page) == secret

    row = page.get_by_role("row").filter(has_text=name)
    row.get_by_role("button", name="Revoke", exact=True).click()
    confirm_dialog(page)
    expect(row.get_by_role("button", name="Revoke", exact=True)).to_have_count(0)


def test_a_generated_webhook_secret_has_a_copy_button(stack: Stack, admin_token: str, page: Page) -> None:
    _grant_clipboard(page, stack)
    before = _get(stack, admin_token, "/api/v1/notifications/targets").get("targets", [])
    sign_in(page, stack.url, "admin", stack.admin_password())
    nav_link(page, "Notifications").click()
    page.get_by_role("button", name="Add target", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Generate", exact=True).click()
    secret = dialog.get_by_label("Secret", exact=True)
    expect(secret).to_have_attribute("type", "text")  # shown, to be copied to the receiver
    generated = secret.input_value()
    assert len(generated) >= 16, generated
    copy = dialog.get_by_role("button", name="Copy webhook secret", exact=True)
    copy.click()
    expect(copy).to_have_text("Copied")
    assert _clipboard(page) == generated
    page.keyboard.press("Escape")  # nothing saved
    expect(dialog).to_be_hidden()
    assert _get(stack, admin_token, "/api/v1/notifications/targets").get("targets", []) == before


# ---- "Open" links --------------------------------------------------------------------------------


def test_a_catalog_deploy_offers_its_secret_to_copy_and_open_when_it_succeeded(
    stack: Stack, admin_token: str, busybox_image: str, page: Page
) -> None:
    _grant_clipboard(page, stack)
    app, port = _name("opn"), free_port()
    sign_in(page, stack.url, "admin", stack.admin_password())
    page.goto(f"{stack.url}/catalog/busybox-httpd")
    page.get_by_label("App name").fill(app)
    page.get_by_label("HTTP_PORT").fill(str(port))
    page.get_by_label("MESSAGE").fill(f"hello from {app}")
    page.get_by_role("button", name="Deploy", exact=True).click()
    try:
        page.wait_for_url(re.compile(rf"/apps/{app}/deployments/[^/?#]+"))
        generated = page.get_by_test_id("generated-SECRET")
        expect(generated).to_be_visible()
        secret = generated.inner_text().strip()
        copy = page.get_by_role("button", name="Copy SECRET", exact=True)
        copy.click()
        expect(copy).to_have_text("Copied")
        assert _clipboard(page) == secret

        expect(page.get_by_test_id("deployment-status")).to_contain_text(
            "succeeded", ignore_case=True, timeout=DEPLOY_TIMEOUT
        )
        opener = page.get_by_test_id("deploy-open").get_by_role("link", name=f"Open {app}", exact=True)
        expect(opener).to_have_attribute("href", f"http://127.0.0.1:{port}/")
        expect(opener).to_have_attribute("target", "_blank")
        with page.context.expect_page() as opened:
            opener.click()
        expect(opened.value.locator("body")).to_contain_text(f"hello from {app}")  # the app answers there
        opened.value.close()
    finally:
        stack.remove_app(admin_token, app)


def test_the_apps_published_ports_open_from_its_page(
    stack: Stack, web_app: tuple[str, int], page: Page
) -> None:
    app, port = web_app
    sign_in(page, stack.url, "admin", stack.admin_password())
    open_app(page, stack.url, app)
    link = page.get_by_role("link", name=f"Open port {port}", exact=True)
    expect(link).to_have_attribute("href", f"http://127.0.0.1:{port}/")
    expect(link).to_have_attribute("target", "_blank")
    with page.context.expect_page() as opened:
        link.click()
    expect(opened.value.locator("body")).to_contain_text(app)  # busybox-httpd serves its MESSAGE
    opened.value.close()
