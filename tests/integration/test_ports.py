"""Host ports are checked before a deploy stops anything: a version whose published port is taken (by
another app, by AppOS itself, by anything listening) is refused, naming the port and who holds it,
and the running version keeps serving. The app's own running containers never count. The catalog
offers a free port when a template's default is taken. Real stack, real Docker, busybox images."""

from __future__ import annotations

import socket
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from tests.harness import Stack, free_port, wait_for

PORT_COMPOSE = """services:
  web:
    image: appos-test/busybox:latest
    pull_policy: never
    init: true
    command: ["sh", "-c", "mkdir -p /www && echo ${{MESSAGE}} > /www/index.html && httpd -f -p 8080 -h /www"]
    ports:
      - "127.0.0.1:{port}:8080"
"""


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _page(port: int) -> str:
    """What the app on `port` serves (it may take a moment to listen after Compose reports it up)."""

    def read() -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                return str(page.read().decode().strip())
        except OSError:
            return None

    text: str = wait_for(read, timeout=10, what=f"a page on port {port}")
    return text


@contextmanager
def _listening(port: int) -> Iterator[socket.socket]:
    """Another program on the server: a plain socket listening on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # our own requests' TIME_WAIT
        sock.bind(("127.0.0.1", port))
        sock.listen(1)
        yield sock


def _create(stack: Stack, token: str, app: str, port: int, message: str = "one") -> Any:
    with stack.client(token) as c:
        return c.post(
            "/api/v1/apps",
            json={"name": app, "compose": PORT_COMPOSE.format(port=port), "env": f"MESSAGE={message}\n"},
        )


def _edit(stack: Stack, token: str, app: str, port: int, message: str, **params: str) -> Any:
    with stack.client(token) as c:
        etag = c.get(f"/api/v1/apps/{app}/compose").headers["etag"]
        return c.put(
            f"/api/v1/apps/{app}/compose",
            json={"compose": PORT_COMPOSE.format(port=port), "env": f"MESSAGE={message}\n"},
            headers={"If-Match": etag},
            params=params,
        )


@pytest.fixture
def apps(stack: Stack, admin_token: str, busybox_image: str) -> Iterator[list[str]]:
    """Names of apps a test made; each is removed at the end."""
    made: list[str] = []
    yield made
    for app in made:
        with stack.client(admin_token) as c:
            r = c.delete(f"/api/v1/apps/{app}", params={"remove_volumes": "true"})
        if r.status_code == 202:
            stack.wait_deployment(admin_token, r.json()["deployment"]["id"])


def _running_app(stack: Stack, token: str, apps: list[str], prefix: str, port: int) -> str:
    app = _name(prefix)
    r = _create(stack, token, app, port)
    assert r.status_code == 202, r.text
    apps.append(app)
    assert stack.wait_deployment(token, r.json()["deployment"]["id"])["status"] == "succeeded"
    assert _page(port) == "one"
    return app


def test_edit_onto_another_apps_port_is_refused_and_the_running_version_keeps_serving(
    stack: Stack, admin_token: str, apps: list[str]
) -> None:
    first_port, second_port = free_port(), free_port()
    first = _running_app(stack, admin_token, apps, "pa", first_port)
    second = _running_app(stack, admin_token, apps, "pb", second_port)

    r = _edit(stack, admin_token, second, first_port, "two", deploy="true")
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert f"host port {first_port} is already in use by the app {first}" in message
    assert _page(second_port) == "one"  # nothing was stopped
    with stack.client(admin_token) as c:
        assert c.get(f"/api/v1/apps/{second}").json()["current_version"] == 1

    # the live check warns about the same port before anything is saved
    with stack.client(admin_token) as c:
        checked = c.post(
            "/api/v1/apps:validate",
            json={"name": second, "compose": PORT_COMPOSE.format(port=first_port), "env": "MESSAGE=x\n"},
        )
    assert checked.status_code == 200, checked.text
    assert any(
        f"host port {first_port} is already in use by the app {first}" in w
        for w in checked.json()["warnings"]
    )

    # the app's own running container holding its port does not count: a new version on it deploys
    r = _edit(stack, admin_token, second, second_port, "two", deploy="true")
    assert r.status_code == 200, r.text
    assert stack.wait_deployment(admin_token, r.json()["deployment"]["id"])["status"] == "succeeded"
    assert _page(second_port) == "two"


def test_create_on_a_port_anything_listens_on_is_refused_and_nothing_is_created(
    stack: Stack, admin_token: str, apps: list[str]
) -> None:
    port, app = free_port(), _name("pc")
    with _listening(port):
        r = _create(stack, admin_token, app, port)
    assert r.status_code == 400, r.text
    assert f"host port {port} is already in use by another program on the server" in r.json()["message"]
    with stack.client(admin_token) as c:
        assert c.get(f"/api/v1/apps/{app}").status_code == 404


def test_appos_own_ports_are_refused(stack: Stack, admin_token: str, apps: list[str]) -> None:
    gateway_port = int(stack.url.rsplit(":", 1)[1])
    app = _name("pd")
    r = _create(stack, admin_token, app, gateway_port)
    assert r.status_code == 400, r.text
    assert f"host port {gateway_port} is already in use by AppOS itself" in r.json()["message"]


def test_rollback_and_redeploy_onto_a_taken_port_are_refused(
    stack: Stack, admin_token: str, apps: list[str]
) -> None:
    old_port, new_port = free_port(), free_port()
    app = _running_app(stack, admin_token, apps, "pe", old_port)
    r = _edit(stack, admin_token, app, new_port, "two", deploy="true")
    assert r.status_code == 200, r.text
    assert stack.wait_deployment(admin_token, r.json()["deployment"]["id"])["status"] == "succeeded"
    assert _page(new_port) == "two"

    with _listening(old_port):  # v1's port is taken now: rolling back to it is refused
        with stack.client(admin_token) as c:
            r = c.post(f"/api/v1/apps/{app}/rollback", json={"version": 1})
        assert r.status_code == 400, r.text
        assert (
            f"host port {old_port} is already in use by another program on the server" in r.json()["message"]
        )
    assert _page(new_port) == "two"

    # a saved (not deployed) version onto a taken port: its redeploy is refused the same way
    r = _edit(stack, admin_token, app, old_port, "three")
    assert r.status_code == 200, r.text
    with _listening(old_port):
        with stack.client(admin_token) as c:
            r = c.post(f"/api/v1/apps/{app}/redeploy", json={})
        assert r.status_code == 400, r.text
        assert f"host port {old_port} is already in use" in r.json()["message"]
    assert _page(new_port) == "two"


def test_the_worker_checks_again_right_before_compose_runs(
    stack: Stack, admin_token: str, apps: list[str]
) -> None:
    """A port taken after the deploy was accepted (while it waited in the queue): the worker refuses
    it before Compose runs, so the running version keeps serving."""
    old_port, new_port = free_port(), free_port()
    app = _running_app(stack, admin_token, apps, "pf", old_port)
    with ExitStack() as held:
        with stack.worker_paused():  # the deployment waits in the queue
            r = _edit(stack, admin_token, app, new_port, "two", deploy="true")
            assert r.status_code == 200, r.text
            deployment_id = r.json()["deployment"]["id"]
            held.enter_context(_listening(new_port))  # the port is taken meanwhile
        done = stack.wait_deployment(admin_token, deployment_id)
    assert done["status"] == "failed", done
    assert "refused before Compose ran (nothing was stopped)" in done["reason"]
    assert f"host port {new_port} is already in use by another program on the server" in done["reason"]
    assert _page(old_port) == "one"


def test_catalog_offers_a_free_port_when_the_default_is_taken(stack: Stack, admin_token: str) -> None:
    with stack.client(admin_token) as c:
        template = c.get("/api/v1/catalog/busybox-httpd").json()
    setting = next(s for s in template["settings"] if s["key"] == "HTTP_PORT")
    default = int(setting["default"])
    try:
        holder: Any = _listening(default)
        holder.__enter__()
    except OSError:  # taken already: the point stands
        holder = None
    try:
        with stack.client(admin_token) as c:
            template = c.get("/api/v1/catalog/busybox-httpd").json()
    finally:
        if holder is not None:
            holder.__exit__(None, None, None)
    setting = next(s for s in template["settings"] if s["key"] == "HTTP_PORT")
    suggested = int(setting["suggested"])
    assert suggested != default
    assert f"port {default} is already in use by" in setting["suggested_reason"]
    assert f"so {suggested} was picked" in setting["suggested_reason"]
    with socket.socket() as probe:  # the suggestion is free
        probe.bind(("127.0.0.1", suggested))
