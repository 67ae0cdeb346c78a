"""Caddy: the whole JSON config built from the proxy table, and its admin API on a Unix socket."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from appos.v1 import proxy_pb2
from services.common.errors import InvalidArgument, Unavailable
from services.common.forwarding import caddy_proxy_headers
from services.common.unixhttp import UnixHTTPConnection
from services.proxyctl.settings import ProxySettings

HTTP_SERVER = "appos_http"
HTTPS_SERVER = "appos_https"
NOT_RUNNING = "The app behind this domain is not running.\n"


class CaddyAdmin:
    def __init__(self, socket_path: Path, timeout: float = 30.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def _request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        conn = UnixHTTPConnection(self.socket_path, self.timeout)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", "")  # Caddy wants an empty Host on its Unix admin socket
            if body is not None:
                conn.putheader("Content-Type", "application/json")
                conn.putheader("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            conn.endheaders(body)
            response = conn.getresponse()
            return response.status, response.read()
        except OSError as exc:
            raise Unavailable("the proxy (Caddy) is not answering on its admin socket") from exc
        finally:
            conn.close()

    def load(self, config: dict[str, Any], *, force: bool = False) -> None:
        """Apply `config` atomically; if Caddy refuses it, the running config stays. Caddy skips a
        config equal to the running one unless `force` (what `caddy reload --force` sends), which a
        certificate renewal needs so that Caddy tries again."""
        headers = {"Cache-Control": "must-revalidate"} if force else None
        status, body = self._request("POST", "/load", json.dumps(config).encode(), headers)
        if status != 200:
            try:
                reason = str(json.loads(body).get("error", ""))
            except (ValueError, AttributeError):
                reason = body.decode(errors="replace")
            raise InvalidArgument(f"the proxy refused the configuration: {reason.strip() or status}")

    def has_appos_config(self) -> bool:
        status, body = self._request("GET", f"/config/apps/http/servers/{HTTP_SERVER}")
        # a path that is not there answers 200 with `null`
        return status == 200 and body.strip() not in (b"", b"null")

    def answers(self) -> bool:
        try:
            status, _ = self._request("GET", "/config/")
        except Unavailable:
            return False
        return status == 200


def _route(domain: str, handler: dict[str, Any]) -> dict[str, Any]:
    return {"match": [{"host": [domain]}], "handle": [handler], "terminal": True}


def _site(addresses: Sequence[str]) -> dict[str, Any]:
    if not addresses:
        return {
            "handler": "static_response",
            "status_code": 502,
            "headers": {"Content-Type": ["text/plain; charset=utf-8"]},
            "body": NOT_RUNNING,
        }
    return {"handler": "reverse_proxy", "upstreams": [{"dial": a} for a in addresses]}


def build_config(
    domains: list[proxy_pb2.Domain],
    settings: ProxySettings,
    admin_socket: Path,
    *,
    dials: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """The complete Caddy config for these domains: HTTPS sites with certificates from the ACME CA,
    plain HTTP sites, and HTTP→HTTPS redirects where asked. `dials` gives each domain the addresses
    to proxy to (`upstream.dials`); a domain with none answers 502 with NOT_RUNNING."""
    http_routes: list[dict[str, Any]] = []
    https_routes: list[dict[str, Any]] = []
    port_suffix = "" if settings.proxy_https_port == 443 else f":{settings.proxy_https_port}"
    for d in domains:
        proxy = _site(dials.get(d.domain, ()))
        if d.console and proxy["handler"] == "reverse_proxy":  # the gateway trusts only its own Caddy
            proxy["headers"] = caddy_proxy_headers(settings)
        if d.https:
            https_routes.append(_route(d.domain, proxy))
            if d.force_https:
                redirect = {
                    "handler": "static_response",
                    "status_code": 308,
                    "headers": {
                        "Location": [f"https://{{http.request.host}}{port_suffix}{{http.request.uri}}"]
                    },
                }
                http_routes.append(_route(d.domain, redirect))
                continue
        http_routes.append(_route(d.domain, proxy))
    http_routes.append(
        {"handle": [{"handler": "static_response", "status_code": 404, "body": "AppOS proxy: no site here"}]}
    )
    servers: dict[str, Any] = {
        HTTP_SERVER: {"listen": [f":{settings.proxy_http_port}"], "routes": http_routes}
    }
    config: dict[str, Any] = {
        # proxyctl re-applies from state after a restart: Caddy need not persist anything
        "admin": {"listen": f"unix/{admin_socket}", "config": {"persist": False}},
        # proxyctl asks the admin API every second; those requests are not worth a log line
        "logging": {"logs": {"default": {"exclude": ["admin.api"]}}},
        "storage": {"module": "file_system", "root": str(settings.caddy_storage)},
        "apps": {
            "http": {
                "http_port": settings.proxy_http_port,
                "https_port": settings.proxy_https_port,
                "servers": servers,
            }
        },
    }
    if https_routes:
        servers[HTTPS_SERVER] = {
            "listen": [f":{settings.proxy_https_port}"],
            "routes": https_routes,
            # our own redirects live on the HTTP server, per domain
            "automatic_https": {"disable_redirects": True},
        }
        issuer: dict[str, Any] = {"module": "acme", "ca": settings.ca_directory}
        if settings.acme_email:
            issuer["email"] = settings.acme_email
        if settings.acme_ca_root:
            issuer["trusted_roots_pem_files"] = [str(settings.acme_ca_root)]
        config["apps"]["tls"] = {"automation": {"policies": [{"issuers": [issuer]}]}}
    return config
