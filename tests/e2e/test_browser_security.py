"""The console in real Chromium under its security headers: a page of another origin cannot frame
it (nor /docs), the console works under its Content-Security-Policy with no console error and no
violation (sign-in, every page, an app's compose editor and terminal, the host terminal), and /docs
renders Swagger UI from the gateway's own files, reaching nothing off this origin.

Violations are caught twice: Chromium's own console message and the page's
`securitypolicyviolation` events, handed to the test through an exposed binding (which, like the
listener installed as an init script, is not subject to the page's CSP)."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import ConsoleMessage, Page, Route, expect

from tests.e2e.browser import choose_service, nav_link, open_app, open_tab, sign_in
from tests.e2e.conftest import NewPage
from tests.harness import Stack, free_port

pytestmark = [pytest.mark.xdist_group("browser"), pytest.mark.usefixtures("busybox_image")]

LISTEN = """document.addEventListener("securitypolicyviolation", (e) => window.__apposCspViolation(
  `${e.violatedDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`));"""
# Each nav link and the heading its page shows.
PAGES = {
    "Apps": "Apps",
    "Catalog": "Catalog",
    "Deployments": "Deployments",
    "Domains": "Domains",
    "Users": "Users",
    "System": "System",
    "Audit": "Audit log",
    "Backups": "Backups",
    "Notifications": "Notifications",
    "Tokens": "API tokens",
    "Account": "Account",
}


@dataclass
class Watched:
    page: Page
    problems: list[str] = field(default_factory=list)  # console errors and warnings, page errors
    violations: list[str] = field(default_factory=list)


@pytest.fixture
def watched(new_page: NewPage) -> Watched:
    page = new_page()
    seen = Watched(page)
    page.context.expose_binding("__apposCspViolation", lambda _source, text: seen.violations.append(text))
    page.context.add_init_script(LISTEN)

    def console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            seen.problems.append(f"{message.type}: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda error: seen.problems.append(f"pageerror: {error}"))
    return seen


def pump_until(page: Page, done: Callable[[], bool], what: str, *, timeout_ms: int = 15_000) -> None:
    """Wait for what the page's event handlers collect. Playwright's sync API runs the handlers
    only inside its own calls, so the wait is one of them (a plain sleep would see nothing)."""
    for _ in range(timeout_ms // 100):
        if done():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out after {timeout_ms} ms waiting for {what}")


# ---- framing -----------------------------------------------------------------------------------


class Framer:
    """A page on another origin (another loopback port) that frames the given URLs, and a control
    frame of yet another origin (localhost) that has no headers, to show framing works at all."""

    def __init__(self) -> None:
        self.port = free_port()
        self.targets: list[str] = []
        framer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                if self.path == "/inner":
                    body = '<p id="inner">framed</p>'
                else:
                    frames = "".join(
                        f'<iframe id="target{n}" src="{url}"></iframe>'
                        for n, url in enumerate(framer.targets)
                    )
                    body = (
                        f'{frames}<iframe id="control" src="http://localhost:{framer.port}/inner"></iframe>'
                    )
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@pytest.fixture
def framer() -> Iterator[Framer]:
    running = Framer()
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def test_another_origin_cannot_frame_the_console(stack: Stack, watched: Watched, framer: Framer) -> None:
    page = watched.page
    framer.targets = [stack.url + "/", stack.url + "/apps", stack.url + "/docs"]
    page.goto(framer.url)
    expect(page.frame_locator("#control").locator("#inner")).to_have_text("framed")  # framing works ...

    # ... but not for AppOS: Chromium refuses each frame and shows its error page in it
    def refusals() -> list[str]:
        return [p for p in watched.problems if "frame-ancestors 'none'" in p and p.startswith("error:")]

    pump_until(page, lambda: len(refusals()) >= len(framer.targets), "Chromium's refusals to frame")
    # (a refusal names the framed origin only, not its path)
    assert all(f"Framing '{stack.url}/'" in refusal for refusal in refusals()), watched.problems
    frames = {frame.name: frame for frame in page.frames}
    for n in range(len(framer.targets)):
        frame = frames[f"target{n}"]
        assert not frame.url.startswith(stack.url), f"{frame.url} was framed"
        assert frame.locator("#root").count() == 0 and frame.get_by_label("Password").count() == 0


# ---- the console under its CSP -----------------------------------------------------------------


@pytest.fixture(scope="module")
def app(stack: Stack, admin_token: str) -> Iterator[str]:
    name = f"csp{uuid.uuid4().hex[:6]}"
    settings = {"HTTP_PORT": str(free_port()), "MESSAGE": "csp"}
    _, deployment = stack.deploy(
        admin_token, {"name": name, "template": "busybox-httpd", "settings": settings}
    )
    assert deployment["status"] == "succeeded", f"{deployment['status']}: {deployment.get('reason')}"
    yield name
    stack.act(admin_token, name, "remove", remove_volumes="true")


def _run_in_terminal(page: Page, command: str, output: str) -> None:
    terminal = page.get_by_test_id("terminal")
    rows = terminal.locator(".xterm-rows")
    expect(rows).to_be_visible()
    terminal.click()
    page.keyboard.type(command)
    page.keyboard.press("Enter")
    expect(rows).to_contain_text(output, timeout=30_000)


def test_the_console_works_under_its_csp_with_no_console_error(
    stack: Stack, app: str, watched: Watched
) -> None:
    page = watched.page
    sign_in(page, stack.url, "admin", stack.admin_password())
    for link, heading in PAGES.items():
        nav_link(page, link).click()
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()

    open_app(page, stack.url, app)  # the overview with its CPU and memory plot
    open_tab(page, "Logs")
    expect(page.get_by_test_id("log-view")).to_contain_text("serving csp", timeout=30_000)
    open_tab(page, "Compose")  # CodeMirror: its styles are inserted at run time
    expect(page.get_by_test_id("compose-editor").locator(".cm-content")).to_contain_text("services:")
    open_tab(page, "History")
    expect(page.get_by_test_id("version-1")).to_be_visible()
    open_tab(page, "Terminal")  # xterm.js, and a WebSocket to this host
    choose_service(page, "web")
    page.get_by_role("button", name="Connect", exact=True).click()
    _run_in_terminal(page, "echo app-$((6*7))", "app-42")

    nav_link(page, "Terminal").click()
    page.get_by_role("button", name="Connect", exact=True).click()
    # a root shell on the server: asked for once a session
    page.get_by_role("dialog").get_by_role("button", name="Open the shell").click()
    expect(page.get_by_text("Connected to the host")).to_be_visible(timeout=30_000)
    _run_in_terminal(page, "echo host-$((6*7))", "host-42")
    page.get_by_role("button", name="Disconnect", exact=True).click()
    expect(page.get_by_text("Disconnected.")).to_be_visible()

    # Typing in a compose editor (last: leaving it with edits would ask to confirm)
    nav_link(page, "Apps").click()
    page.get_by_role("link", name="New app from compose", exact=True).click()
    editor = page.get_by_test_id("new-compose-editor").locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text("services:\n  web:\n    image: appos-test/busybox:latest\n")
    expect(editor).to_contain_text("appos-test/busybox:latest")

    page.evaluate("0")  # a round trip: every event sent before it has reached the handlers
    assert watched.violations == [], watched.violations
    assert watched.problems == [], watched.problems

    # The watch would have seen one: an inline script and another origin's image are refused.
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.__inlineRan = true";
            document.body.append(script);
            const img = document.createElement("img");
            img.src = "http://localhost:9/pixel.png";
            document.body.append(img);
        }"""
    )
    pump_until(page, lambda: len(watched.violations) >= 2, "the control violations")
    assert page.evaluate("window.__inlineRan === undefined")
    directives = sorted(v.split()[0] for v in watched.violations)
    assert directives == ["img-src", "script-src-elem"], watched.violations


# ---- /docs -------------------------------------------------------------------------------------


def test_docs_renders_from_the_gateways_own_files_under_the_csp(stack: Stack, watched: Watched) -> None:
    page = watched.page
    elsewhere: list[str] = []

    def only_this_origin(route: Route) -> None:
        if route.request.url.startswith(stack.url + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_this_origin)
    sign_in(page, stack.url, "admin", stack.admin_password())  # /docs uses the console's token
    page.goto(stack.url + "/docs")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible(timeout=30_000)
    assert operations.count() >= 40
    me = page.locator("#operations-Auth-Auth_Me")
    me.locator(".opblock-summary").click()
    me.get_by_role("button", name="Try it out").click()
    me.get_by_role("button", name="Execute").click()
    status = me.locator(".live-responses-table .response .response-col_status")
    expect(status.first).to_have_text("200")
    body = me.locator(".live-responses-table .response .response-col_description")
    expect(body.first).to_contain_text('"username": "admin"')

    page.evaluate("0")
    assert elsewhere == [], elsewhere
    assert watched.violations == [], watched.violations
    assert watched.problems == [], watched.problems
    scripts = page.locator("script[src]").evaluate_all("els => els.map(e => e.src)")
    assert scripts and all(re.match(re.escape(stack.url) + r"/docs/", src) for src in scripts), scripts
