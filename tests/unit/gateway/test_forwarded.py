"""The client's address behind AppOS's own Caddy: X-Forwarded-For only with the proxy's secret, the
secret never passed on, and the header only on the console's routes of the Caddy config."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from appos.v1 import proxy_pb2
from services.common.forwarding import PROXY_HEADER, proxy_secret
from services.gateway.forwarded import TrustedProxyMiddleware, forwarded_client
from services.proxyctl.caddy import build_config
from services.proxyctl.settings import ProxySettings

SECRET = "s3cret-only-appos-and-caddy-know"


def _headers(**values: str) -> list[tuple[bytes, bytes]]:
    return [(k.replace("_", "-").encode(), v.encode()) for k, v in values.items()]


def test_forwarded_for_counts_only_with_the_proxy_secret() -> None:
    proof = PROXY_HEADER.lower().replace("-", "_")
    key = SECRET.encode()
    assert (
        forwarded_client(_headers(**{proof: SECRET, "x_forwarded_for": "203.0.113.7"}), key) == "203.0.113.7"
    )
    # the rightmost address is the one our Caddy wrote
    chained = _headers(**{proof: SECRET, "x_forwarded_for": "10.9.9.9, 203.0.113.7"})
    assert forwarded_client(chained, key) == "203.0.113.7"
    assert forwarded_client(_headers(x_forwarded_for="203.0.113.7"), key) is None  # no proof
    assert forwarded_client(_headers(**{proof: "guess", "x_forwarded_for": "203.0.113.7"}), key) is None
    assert forwarded_client(_headers(**{proof: SECRET, "x_forwarded_for": "not-an-ip"}), key) is None
    assert forwarded_client(_headers(**{proof: SECRET}), key) is None
    twice = [*_headers(**{proof: SECRET}), *_headers(**{proof: "guess", "x_forwarded_for": "203.0.113.7"})]
    assert forwarded_client(twice, key) is None


def test_the_middleware_sets_the_client_and_drops_the_secret() -> None:
    async def echo(request: Request) -> JSONResponse:
        client = request.client.host if request.client else ""
        return JSONResponse({"client": client, "proof": request.headers.get(PROXY_HEADER)})

    app = TrustedProxyMiddleware(Starlette(routes=[Route("/", echo)]), secret=SECRET)

    async def get(headers: dict[str, str]) -> dict[str, str]:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
            body: dict[str, str] = (await c.get("/", headers=headers)).json()
            return body

    through_caddy = asyncio.run(get({PROXY_HEADER: SECRET, "X-Forwarded-For": "198.51.100.4"}))
    assert through_caddy == {"client": "198.51.100.4", "proof": None}
    spoofed = asyncio.run(get({PROXY_HEADER: "guess", "X-Forwarded-For": "198.51.100.4"}))
    assert spoofed == {"client": "127.0.0.1", "proof": None}
    assert asyncio.run(get({"X-Forwarded-For": "198.51.100.4"}))["client"] == "127.0.0.1"


def test_caddy_sends_the_secret_to_the_console_only(tmp_path: Path) -> None:
    settings = ProxySettings(
        data=tmp_path, run_dir=tmp_path / "run", proxy_http_port=8000, proxy_https_port=8443
    )
    domains = [
        proxy_pb2.Domain(domain="console.example.com", console=True, upstream="127.0.0.1:8080", https=False),
        proxy_pb2.Domain(domain="blog.example.com", app="blog", service="web", port=80, https=False),
    ]
    dials = {"console.example.com": ["127.0.0.1:8080"], "blog.example.com": ["10.0.7.3:80"]}
    config = build_config(domains, settings, tmp_path / "admin.sock", dials=dials)
    handlers = {
        r["match"][0]["host"][0]: r["handle"][0]
        for r in config["apps"]["http"]["servers"]["appos_http"]["routes"][:-1]
    }
    secret = proxy_secret(settings)
    assert (tmp_path / "secrets" / "proxy.key").stat().st_mode & 0o777 == 0o600
    assert handlers["console.example.com"]["headers"] == {"request": {"set": {PROXY_HEADER: [secret]}}}
    assert "headers" not in handlers["blog.example.com"]  # an app never learns it
