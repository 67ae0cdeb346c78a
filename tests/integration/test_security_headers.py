"""Every kind of answer of a real gateway carries the security headers (the console's files and its
SPA fallback, the API's replies and errors, /health, /metrics, /openapi.json, /docs and Swagger
UI's files), and /docs loads nothing but the gateway's own files."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from tests.harness import ROOT, Stack

FIXED = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
DASHBOARD_INDEX = ROOT / "dashboard" / "dist" / "index.html"


def _directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        assert name not in parsed, f"{name} twice in {policy!r}"
        parsed[name] = sources
    return parsed


def assert_secure(response: httpx.Response, port: int) -> None:
    where = f"{response.request.method} {response.request.url.path} → {response.status_code}"
    for name, value in FIXED.items():
        assert response.headers.get_list(name) == [value], (where, name, response.headers)
    policies = response.headers.get_list("content-security-policy")
    assert len(policies) == 1, (where, policies)
    csp = _directives(policies[0])
    assert csp["default-src"] == ["'self'"], where
    assert csp["script-src"] == ["'self'"], where  # no inline script, no eval, no other host
    assert csp["style-src"] == ["'self'", "'unsafe-inline'"], where
    assert csp["img-src"] == ["'self'", "data:"], where
    assert csp["connect-src"] == ["'self'", f"ws://127.0.0.1:{port}", f"wss://127.0.0.1:{port}"], where
    assert csp["frame-ancestors"] == ["'none'"], where
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"], where
    assert not any("*" in source for sources in csp.values() for source in sources), where


def _first_asset() -> str:
    match = re.search(r'src="(/assets/[^"]+\.js)"', DASHBOARD_INDEX.read_text())
    assert match, f"no script in {DASHBOARD_INDEX}: build the dashboard (`make dashboard`)"
    return match.group(1)


@pytest.fixture(scope="module")
def viewer_token(stack: Stack, admin_token: str) -> Iterator[str]:
    with stack.client(admin_token) as c:
        r = c.post(
            "/api/v1/users", json={"username": "hdrviewer", "password": "viewer-pw-1234", "role": "viewer"}
        )
    assert r.status_code == 200, r.text
    yield stack.login("hdrviewer", "viewer-pw-1234")
    with stack.client(admin_token) as c:
        c.delete("/api/v1/users/hdrviewer")


def _requests(admin: str, viewer: str) -> list[tuple[str, str, str | None, dict[str, Any], int]]:
    """(method, path, token, httpx keyword arguments, expected status) for each kind of answer."""
    asset = _first_asset()
    return [
        ("GET", "/", None, {}, 200),  # the console's index.html
        ("HEAD", "/", None, {}, 200),
        ("GET", "/apps/some-app/compose", None, {}, 200),  # SPA fallback
        ("GET", "/favicon.svg", None, {}, 200),
        ("GET", asset, None, {}, 200),
        ("GET", "/health", None, {}, 200),
        ("GET", "/metrics", None, {}, 401),
        ("GET", "/metrics", admin, {}, 200),
        ("GET", "/openapi.json", None, {}, 401),
        ("GET", "/openapi.json", admin, {}, 200),
        ("GET", "/docs", None, {}, 200),
        ("GET", "/docs/init.js", None, {}, 200),
        ("GET", "/api/v1/apps", admin, {}, 200),
        ("GET", "/api/v1/apps", None, {}, 401),
        ("POST", "/api/v1/users", viewer, {"json": {"username": "x", "password": "y"}}, 403),
        ("GET", "/api/v1/apps/no-such-app", admin, {}, 404),
        ("GET", "/api/v1/no/such/route", admin, {}, 404),
        ("DELETE", "/api/v1/auth/login", None, {}, 405),
        ("POST", "/api/v1/auth/login", None, {"json": {"username": 7}}, 400),
        ("POST", "/api/v1/auth/login", None, {"json": {"username": "admin", "password": "wrong"}}, 401),
        ("POST", "/api/v1/users", admin, {"content": b"x" * (2 << 20)}, 413),
        ("PUT", "/api/v1/apps/no-such-app/compose", admin, {"json": {"compose": "x"}}, 428),
    ]


def test_every_kind_of_answer_carries_the_headers(stack: Stack, admin_token: str, viewer_token: str) -> None:
    for method, path, token, kwargs, status in _requests(admin_token, viewer_token):
        with stack.client(token) as c:
            r = c.request(method, path, **kwargs)
        assert r.status_code == status, (method, path, r.status_code, r.text[:300])
        assert_secure(r, stack.port)


def test_a_revalidated_static_file_carries_them_too(stack: Stack) -> None:
    with stack.client() as c:
        first = c.get("/favicon.svg")
        again = c.get("/favicon.svg", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert_secure(again, stack.port)


def test_websockets_still_open(stack: Stack, admin_token: str) -> None:
    """WebSocket scopes pass the middleware untouched (they have no response headers to add)."""
    url = f"ws://127.0.0.1:{stack.port}/api/v1/events/ws"
    protocols = [Subprotocol("appos.v1"), Subprotocol(f"bearer.{admin_token}")]
    with connect(url, subprotocols=protocols) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        url = found.get("src") or found.get("href")
        if url:
            self.urls.append(url)
        elif tag == "script":
            self.inline_scripts += 1


def test_docs_loads_only_the_gateways_own_files(stack: Stack) -> None:
    with stack.client() as c:
        page = c.get("/docs")
        references = _References()
        references.feed(page.text)
        assert references.inline_scripts == 0, page.text
        assert "http:" not in page.text and "https:" not in page.text, page.text
        assert len(references.urls) >= 3, page.text  # the icon, Swagger UI's CSS and JS, the start script
        for url in references.urls:
            assert url.startswith("/") and not url.startswith("//"), f"{url} is not on this origin"
            r = c.get(url)
            assert r.status_code == 200, (url, r.status_code)
            assert_secure(r, stack.port)
            if url.endswith(".js"):
                assert r.headers["content-type"].startswith("text/javascript"), (url, r.headers)
        assert "SwaggerUIBundle" in c.get("/docs/init.js").text
        bundle = next(u for u in references.urls if u.endswith("/swagger-ui-bundle.js")).rsplit("/", 1)[0]
        # only the files the page uses: not the bundle's demo page (it points at a petstore elsewhere)
        for other in ("index.html", "swagger-initializer.js", "index.j2"):
            assert c.get(f"{bundle}/{other}").status_code == 404, other
