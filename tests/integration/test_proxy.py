"""Domains with automatic HTTPS: real Caddy (under supervisord), real Pebble + challtestsrv, real
Docker. Pebble validates on Caddy's own ports and resolves every name to 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.proxyctl.caddy import NOT_RUNNING
from tests.harness import (
    BUSYBOX_IMAGE,
    Pebble,
    Stack,
    app_containers,
    docker_client,
    free_port,
    start_pebble,
    start_stack,
    wait_for,
)
from tests.webhooks import Receiver, verify_signature

# one worker runs this module: its module-scoped stack (and app names) exist once
pytestmark = pytest.mark.xdist_group("proxy")
# Compose project names are global in Docker: a name of this run only
SITE = f"site{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def proxy_stack(
    tmp_path_factory: pytest.TempPathFactory, docker_engine: None
) -> Iterator[tuple[Stack, Pebble]]:
    folder = tmp_path_factory.mktemp("proxy")
    http_port, https_port = free_port(), free_port()
    pebble = start_pebble(folder / "pebble", http_port=http_port, https_port=https_port)
    stack = start_stack(
        folder / "stack",
        extra_env={
            "APPOS_PROXY_HTTP_PORT": str(http_port),
            "APPOS_PROXY_HTTPS_PORT": str(https_port),
            "APPOS_ACME_CA": pebble.directory,
            "APPOS_ACME_CA_ROOT": str(pebble.api_root),
            "APPOS_ACME_EMAIL": "ops@appos.test",
            "APPOS_PROXY_DNS_SERVER": pebble.dns,
            # the periodic check never runs during these tests: a certificate's status follows what
            # Caddy does by itself (`issuance.py`), and a test that needs it read now asks to renew
            "APPOS_CERT_CHECK_SECONDS": "3600",
        },
    )
    yield stack, pebble
    stack.stop()
    pebble.stop()


def _ports(stack: Stack) -> tuple[int, int]:
    return int(stack.env["APPOS_PROXY_HTTP_PORT"]), int(stack.env["APPOS_PROXY_HTTPS_PORT"])


def https_get(stack: Stack, host: str, root_pem: str, path: str = "/") -> tuple[str, dict[str, Any]]:
    """GET https://host/ through Caddy on 127.0.0.1 (like curl --resolve), verifying with `root_pem`."""
    _, https_port = _ports(stack)
    context = ssl.create_default_context(cadata=root_pem)
    with socket.create_connection(("127.0.0.1", https_port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            cert = tls.getpeercert()
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), head
    return body.strip(), cert  # type: ignore[return-value]


def http_get(stack: Stack, host: str) -> tuple[int, str]:
    http_port, _ = _ports(stack)
    request = urllib.request.Request(f"http://127.0.0.1:{http_port}/", headers={"Host": host})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return int(response.status), ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


@pytest.fixture(scope="module")
def site(proxy_stack: tuple[Stack, Pebble], busybox_image: str) -> Iterator[tuple[str, int]]:
    stack, _ = proxy_stack
    token = stack.login()
    port = free_port()
    _, deployment = stack.deploy(
        token,
        {
            "name": SITE,
            "template": "busybox-httpd",
            "settings": {"HTTP_PORT": str(port), "MESSAGE": "hello tls"},
        },
    )
    assert deployment["status"] == "succeeded"
    yield SITE, port
    assert stack.act(token, SITE, "remove", remove_volumes="true")["status"] == "succeeded"


def _certificate(stack: Stack, token: str, domain: str) -> dict[str, Any]:
    with stack.client(token) as c:
        certs = c.get("/api/v1/proxy/certificates").json()["certificates"]
    return next(cert for cert in certs if cert["domain"] == domain)


def _event(stack: Stack, token: str, kind: str, subject: str) -> dict[str, Any]:
    """The first `kind` event about `subject` in the event log (the stream from seq 0 replays it)."""
    with httpx.stream(
        "GET",
        f"{stack.url}/api/v1/events",
        params={"after": 0},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as events:
        for line in events.iter_lines():
            if line.startswith("data:") and f'"{kind}"' in line and subject in line:
                event: dict[str, Any] = json.loads(line.removeprefix("data:"))
                return event
    raise AssertionError(f"the event stream ended without a {kind} event about {subject}")


def test_domain_gets_a_real_certificate_and_serves_the_app(
    proxy_stack: tuple[Stack, Pebble], site: tuple[str, int]
) -> None:
    """The API says `valid` soon after Caddy serves the certificate (the periodic check is an hour
    away in this stack), and an event tells the console."""
    stack, pebble = proxy_stack
    token = stack.login()
    with stack.client(token) as c:
        r = c.post(
            "/api/v1/proxy/domains",
            json={"domain": "app1.appos.test", "app": SITE, "service": "web", "port": 8080},
        )
    assert r.status_code == 200, r.text
    domain = r.json()
    assert domain["https"] and domain["force_https"] and domain["upstream"] == f"app:{SITE}/web:8080"
    root = pebble.issuing_root()
    body, cert = wait_for(
        lambda: _try_https(stack, "app1.appos.test", root), timeout=60, what="a Pebble certificate"
    )
    assert body == "hello tls"
    assert ("commonName", "app1.appos.test") in cert["subject"][0] or any(
        ("DNS", "app1.appos.test") == san for san in cert.get("subjectAltName", ())
    )
    valid = wait_for(  # a generous bound on "within seconds of Caddy obtaining it"
        lambda: (c := _certificate(stack, token, "app1.appos.test"))["status"] == "valid" and c,
        timeout=30,
        what="status valid",
    )
    event = _event(stack, token, "certificate_status", "app1.appos.test")
    assert event["actor"] == "proxyctl" and '"valid"' in json.dumps(event), event
    not_after = datetime.fromisoformat(valid["not_after"].replace("Z", "+00:00"))
    assert not_after > datetime.now(UTC) + timedelta(days=30)
    assert valid["issuer"] and valid["days_left"] > 30
    status, location = http_get(stack, "app1.appos.test")
    assert status == 308 and location == f"https://app1.appos.test:{_ports(stack)[1]}/"

    with stack.client(token) as c:
        assert (
            c.post(
                "/api/v1/proxy/domains",
                json={"domain": "app1.appos.test", "app": SITE, "service": "web", "port": 8080},
            ).status_code
            == 409
        )
        assert c.delete("/api/v1/proxy/domains/app1.appos.test").status_code == 200
        assert "app1.appos.test" not in [
            d["domain"] for d in c.get("/api/v1/proxy/domains").json()["domains"]
        ]
    assert http_get(stack, "app1.appos.test")[0] == 404


def _try_https(stack: Stack, host: str, root: str, path: str = "/") -> tuple[str, dict[str, Any]] | None:
    try:
        return https_get(stack, host, root, path)
    except (OSError, AssertionError):
        return None


def test_plain_http_domain_and_bad_requests(proxy_stack: tuple[Stack, Pebble], site: tuple[str, int]) -> None:
    stack, _ = proxy_stack
    token = stack.login()
    with stack.client(token) as c:
        before = c.get("/api/v1/proxy/domains").json()["domains"]
        bad = [
            (
                {"domain": "not a domain", "app": SITE, "service": "web", "port": 8080},
                400,
                "not a valid domain",
            ),
            (
                {"domain": "-x.appos.test", "app": SITE, "service": "web", "port": 8080},
                400,
                "not a valid domain",
            ),
            (
                {"domain": "x.appos.test", "app": "nope", "service": "web", "port": 8080},
                404,
                "does not exist",
            ),
            (
                {"domain": "x.appos.test", "app": SITE, "service": "db", "port": 8080},
                400,
                "no running container",
            ),
            (
                {"domain": "x.appos.test", "app": SITE, "service": "web", "port": 9999},
                400,
                "does not expose or listen on port 9999",
            ),
            ({"domain": "x.appos.test", "app": "../x", "service": "web", "port": 8080}, 400, "app name"),
        ]
        for body, status, needle in bad:
            r = c.post("/api/v1/proxy/domains", json=body)
            assert r.status_code == status, (body, r.text)
            assert needle in r.json()["message"], r.json()
        assert c.get("/api/v1/proxy/domains").json()["domains"] == before
        plain = c.post(
            "/api/v1/proxy/domains",
            json={
                "domain": "plain.appos.test",
                "app": SITE,
                "service": "web",
                "port": 8080,
                "https": False,
            },
        )
        assert plain.status_code == 200 and plain.json()["certificate"]["status"] == "none"
    assert http_get(stack, "plain.appos.test")[0] == 200
    with stack.client(token) as c:
        assert c.delete("/api/v1/proxy/domains/plain.appos.test").status_code == 200


def test_unresolvable_name_is_a_clear_error_and_nothing_changes(tmp_path: Path, docker_engine: None) -> None:
    """With the system resolver (no test DNS), an unknown name does not resolve."""
    stack = start_stack(tmp_path)
    try:
        token = stack.login()
        with stack.client(token) as c:
            r = c.post("/api/v1/proxy/domains", json={"domain": "nowhere.invalid", "console": True})
            assert r.status_code == 400
            assert "does not resolve" in r.json()["message"]
            assert c.get("/api/v1/proxy/domains").json()["domains"] == []
    finally:
        stack.stop()


def test_a_config_caddy_rejects_changes_nothing(
    tmp_path: Path, proxy_stack: tuple[Stack, Pebble], busybox_image: str
) -> None:
    """The HTTPS port is taken by another program: Caddy refuses the config that would listen on it;
    the API answers with Caddy's reason and the plain-HTTP site keeps serving."""
    _, pebble = proxy_stack
    http_port = free_port()
    with socket.socket() as squatter:
        squatter.bind(("0.0.0.0", 0))
        squatter.listen()
        https_port = squatter.getsockname()[1]
        stack = start_stack(
            tmp_path,
            extra_env={
                "APPOS_PROXY_HTTP_PORT": str(http_port),
                "APPOS_PROXY_HTTPS_PORT": str(https_port),
                "APPOS_PROXY_DNS_SERVER": pebble.dns,
                "APPOS_ACME_CA": pebble.directory,
                "APPOS_ACME_CA_ROOT": str(pebble.api_root),
            },
        )
        try:
            token = stack.login()
            port = free_port()
            _, deployment = stack.deploy(
                token,
                {
                    "name": "kept",
                    "template": "busybox-httpd",
                    "settings": {"HTTP_PORT": str(port), "MESSAGE": "kept"},
                },
            )
            assert deployment["status"] == "succeeded"
            target = {"app": "kept", "service": "web", "port": 8080}
            with stack.client(token) as c:
                assert (
                    c.post(
                        "/api/v1/proxy/domains", json={"domain": "keep.appos.test", "https": False, **target}
                    ).status_code
                    == 200
                )
            assert http_get(stack, "keep.appos.test")[0] == 200
            with stack.client(token) as c:
                r = c.post("/api/v1/proxy/domains", json={"domain": "secure.appos.test", **target})
                assert r.status_code == 400, r.text
                message = r.json()["message"]
                assert (
                    "the proxy refused the configuration" in message and "address already in use" in message
                )
                domains = [d["domain"] for d in c.get("/api/v1/proxy/domains").json()["domains"]]
            assert domains == ["keep.appos.test"]
            assert http_get(stack, "keep.appos.test")[0] == 200, "the old config still serves"
            assert stack.act(token, "kept", "remove", remove_volumes="true")["status"] == "succeeded"
        finally:
            stack.stop()


def test_kill_9_of_caddy_is_repaired_from_state(
    proxy_stack: tuple[Stack, Pebble], site: tuple[str, int]
) -> None:
    stack, _ = proxy_stack
    token = stack.login()
    with stack.client(token) as c:
        assert (
            c.post(
                "/api/v1/proxy/domains",
                json={
                    "domain": "again.appos.test",
                    "app": SITE,
                    "service": "web",
                    "port": 8080,
                    "https": False,
                },
            ).status_code
            == 200
        )
    assert http_get(stack, "again.appos.test")[0] == 200
    pid = stack.pid_of("caddy")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: stack.pid_of("caddy") != pid, timeout=30, what="supervisord to restart caddy")
    wait_for(lambda: _http_status(stack, "again.appos.test") == 200, timeout=30, what="proxyctl to re-apply")
    wait_for(lambda: stack.health() == 200, timeout=30, what="health")
    with stack.client(token) as c:
        assert c.delete("/api/v1/proxy/domains/again.appos.test").status_code == 200


def _http_status(stack: Stack, host: str) -> int:
    try:
        return http_get(stack, host)[0]
    except OSError:
        return 0


def test_a_certificate_expiring_within_30_days_raises_the_alert(
    proxy_stack: tuple[Stack, Pebble], site: tuple[str, int]
) -> None:
    stack, _ = proxy_stack
    token = stack.login()
    domain = "soon.appos.test"
    receiver = Receiver()  # the alert also reaches a subscribed webhook, signed
    secret = "cert-hook-secret-1a2b3c"
    with stack.client(token) as c:
        r = c.post(
            "/api/v1/notifications/targets",
            json={
                "name": "certs",
                "webhook": {"url": receiver.url("/certs"), "secret": secret},
                "events": ["certificate_expiring"],
            },
        )
        assert r.status_code == 200, r.text
        r = c.post(
            "/api/v1/proxy/domains", json={"domain": domain, "app": SITE, "service": "web", "port": 8080}
        )
        assert r.status_code == 200, r.text
    wait_for(
        lambda: _certificate(stack, token, domain)["status"] == "valid",
        timeout=60,
        what="Pebble's certificate",
    )
    # replace it with a real certificate that ends in 10 days, where Caddy keeps it (Caddy renews at
    # a third of the lifetime left, so it leaves this one alone for now)
    stored = list((stack.data / "caddy" / "certificates").glob(f"*/{domain}/{domain}.crt"))
    assert len(stored) == 1
    folder = stored[0].parent
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "10", "-subj", f"/CN={domain}",
         "-keyout", str(folder / f"{domain}.key"), "-out", str(folder / f"{domain}.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    with stack.client(token) as c:  # read it now (the periodic check is an hour away in this stack)
        r = c.post(f"/api/v1/proxy/domains/{domain}/certificate", json={})
        assert r.status_code == 200, r.text
    expiring = _certificate(stack, token, domain)
    assert expiring["status"] == "expiring", expiring
    assert expiring["days_left"] in (9, 10) and "expires in" in expiring["reason"]
    with stack.client(token) as c:
        with httpx.stream(
            "GET",
            f"{stack.url}/api/v1/events",
            params={"after": 0},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ) as events:
            found = next(
                line for line in events.iter_lines() if '"certificate_expiring"' in line and domain in line
            )
        assert '"days_left"' in found
        try:
            [request] = wait_for(
                lambda: [r for r in receiver.received("/certs") if r.json()["subject"] == domain],
                timeout=60,
                what="the certificate_expiring webhook",
            )
        finally:
            receiver.close()
        verify_signature(request, secret)
        assert request.json()["event"] == "certificate_expiring"
        assert f"the certificate of {domain} expires in" in request.json()["message"]
        assert c.delete(f"/api/v1/proxy/domains/{domain}").status_code == 200
        assert c.delete("/api/v1/notifications/targets/certs").status_code == 200


# An app of busybox httpd on container port 80; each container's page names the container
# (its hostname is the start of its id), so a reply shows which container served it.
CONTAINER_SITE = """
services:
  web:
    image: appos-test/busybox:latest
    pull_policy: never
    init: true
    command:
      - sh
      - -c
      - mkdir -p /www && echo "$${MESSAGE} $$(hostname)" > /www/index.html && exec httpd -f -p 80 -h /www
    environment:
      MESSAGE: ${MESSAGE}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/"]
      interval: 1s
      timeout: 2s
      retries: 20
"""


def fetch(stack: Stack, host: str, path: str = "/") -> tuple[int, str]:
    """GET http://host/path through Caddy's HTTP port on 127.0.0.1: (status, body)."""
    http_port, _ = _ports(stack)
    return fetch_direct(f"http://127.0.0.1:{http_port}{path}", host)


def fetch_direct(url: str, host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode().strip()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode().strip()


def _fetch_or_none(stack: Stack, host: str) -> tuple[int, str] | None:
    try:
        return fetch(stack, host)
    except OSError:
        return None


def _web_container(stack: Stack, app: str) -> dict[str, Any]:
    """The app's running `web` container as Docker lists it (id, networks)."""
    [container] = [
        c
        for c in app_containers(stack.data / "apps")
        if c["Labels"]["com.docker.compose.project"] == f"appos-{app}" and c["State"] == "running"
    ]
    return container


def _address(container: dict[str, Any]) -> str:
    [network] = container["NetworkSettings"]["Networks"].values()
    return str(network["IPAddress"])


class _OtherServer:
    """Another program on 127.0.0.1:<port>: what a proxy dialing 127.0.0.1:<published port> would
    serve instead of the app."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b"localhost-only service, not the app"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def _impostor(app: str) -> Iterator[None]:
    """A container of no app on `app`'s network, serving other content on the same port."""
    client = docker_client()
    try:
        container = client.containers.run(
            BUSYBOX_IMAGE,
            ["sh", "-c", "mkdir -p /www && echo impostor > /www/index.html && exec httpd -f -p 80 -h /www"],
            name=f"{app}-impostor",
            network=f"appos-{app}_default",
            detach=True,
        )
        try:
            yield
        finally:
            container.remove(force=True)
    finally:
        client.close()


def _deploy_site(stack: Stack, token: str, app: str, compose: str, message: str) -> None:
    _, deployment = stack.deploy(token, {"name": app, "compose": compose, "env": f"MESSAGE={message}\n"})
    assert deployment["status"] == "succeeded", deployment


def test_the_domain_dials_the_app_not_the_host_port_it_publishes(
    proxy_stack: tuple[Stack, Pebble], busybox_image: str
) -> None:
    """The app publishes 127.0.0.2:P:80 while another program listens on 127.0.0.1:P: the domain
    serves the app, never the other program."""
    stack, _ = proxy_stack
    token = stack.login()
    other = _OtherServer()
    app = f"pub{uuid.uuid4().hex[:6]}"
    try:
        published = CONTAINER_SITE.replace(
            "    environment:", f'    ports:\n      - "127.0.0.2:{other.port}:80"\n    environment:'
        )
        _deploy_site(stack, token, app, published, "the app itself")
        assert fetch_direct(f"http://127.0.0.1:{other.port}/") == (200, "localhost-only service, not the app")
        with stack.client(token) as c:
            r = c.post(
                "/api/v1/proxy/domains",
                json={"domain": "pub.appos.test", "app": app, "service": "web", "port": 80, "https": False},
            )
            assert r.status_code == 200, r.text
            assert r.json()["upstream"] == f"app:{app}/web:80"
        container = _web_container(stack, app)
        assert fetch(stack, "pub.appos.test") == (200, f"the app itself {container['Id'][:12]}")
        with stack.client(token) as c:
            assert c.delete("/api/v1/proxy/domains/pub.appos.test").status_code == 200
    finally:
        other.close()
        assert stack.act(token, app, "remove", remove_volumes="true")["status"] == "succeeded"


def test_an_app_without_published_ports_is_served_across_redeploy_stop_and_start(
    proxy_stack: tuple[Stack, Pebble], busybox_image: str
) -> None:
    stack, _ = proxy_stack
    token = stack.login()
    app = f"priv{uuid.uuid4().hex[:6]}"
    domain = "priv.appos.test"
    _deploy_site(stack, token, app, CONTAINER_SITE, "no published port")
    try:
        first = _web_container(stack, app)
        assert first["Ports"] == []  # published nowhere, not even exposed
        with stack.client(token) as c:
            r = c.post(
                "/api/v1/proxy/domains",
                json={"domain": domain, "app": app, "service": "web", "port": 80, "https": False},
            )
            assert r.status_code == 200, r.text
            wrong = c.post(
                "/api/v1/proxy/domains",
                json={"domain": "wrong.appos.test", "app": app, "service": "web", "port": 81, "https": False},
            )
            assert (
                wrong.status_code == 400 and "does not expose or listen on port 81" in wrong.json()["message"]
            )
        assert fetch(stack, domain) == (200, f"no published port {first['Id'][:12]}")

        # a redeploy recreates the container: the domain serves the new one without being re-added
        assert stack.act(token, app, "redeploy")["status"] == "succeeded"
        second = _web_container(stack, app)
        assert second["Id"] != first["Id"]
        expected = (200, f"no published port {second['Id'][:12]}")
        wait_for(lambda: _fetch_or_none(stack, domain) == expected, timeout=30, what="the new container")

        # stopped: a plain 502 saying so, not a dial to an address that may be someone else's now
        assert stack.act(token, app, "stop")["status"] == "succeeded"
        stopped = (502, NOT_RUNNING.strip())
        wait_for(
            lambda: _fetch_or_none(stack, domain) == stopped, timeout=30, what="the 502 of a stopped app"
        )

        # another container takes a free address on the app's network (the engine hands out the lowest
        # free one: the app's old address); when the app starts again it gets a new address
        with _impostor(app):
            assert stack.act(token, app, "start")["status"] == "succeeded"
            third = _web_container(stack, app)
            assert _address(third) != _address(second)
            expected = (200, f"no published port {third['Id'][:12]}")
            wait_for(lambda: _fetch_or_none(stack, domain) == expected, timeout=30, what="the started app")
        with stack.client(token) as c:
            listed = c.get("/api/v1/proxy/domains").json()["domains"]
            assert [d["upstream"] for d in listed if d["domain"] == domain] == [f"app:{app}/web:80"]
            assert c.delete(f"/api/v1/proxy/domains/{domain}").status_code == 200
    finally:
        assert stack.act(token, app, "remove", remove_volumes="true")["status"] == "succeeded"


def _domain_names(c: httpx.Client) -> list[str]:
    return [d["domain"] for d in c.get("/api/v1/proxy/domains").json()["domains"]]


def test_only_an_admin_publishes_the_console_and_only_over_https(
    proxy_stack: tuple[Stack, Pebble], site: tuple[str, int]
) -> None:
    """An operator may add and remove app domains, never the console's (403, nothing changes); an
    admin may, only with HTTPS (https or force_https false: 400), and plain HTTP redirects."""
    stack, pebble = proxy_stack
    admin = stack.login()
    console = "console.appos.test"
    with stack.client(admin) as c:
        r = c.post(
            "/api/v1/users",
            json={"username": "domainops", "password": "operator-pw-1234", "role": "operator"},
        )
        assert r.status_code == 200, r.text
    operator = stack.login("domainops", "operator-pw-1234")
    with stack.client(operator) as c:
        before = c.get("/api/v1/proxy/domains").json()["domains"]
        for body in (
            {"domain": console, "console": True},
            {"domain": console, "console": True, "https": False},
        ):
            r = c.post("/api/v1/proxy/domains", json=body)
            assert r.status_code == 403, (body, r.text)
            assert "only an admin" in r.json()["message"]
        assert c.get("/api/v1/proxy/domains").json()["domains"] == before
        app_domain = {"domain": "ops.appos.test", "app": SITE, "service": "web", "port": 8080, "https": False}
        assert c.post("/api/v1/proxy/domains", json=app_domain).status_code == 200  # app domains: as before
        assert c.delete("/api/v1/proxy/domains/ops.appos.test").status_code == 200
    assert http_get(stack, console)[0] == 404  # Caddy has no site for the name

    with stack.client(admin) as c:
        for body, needle in (
            ({"domain": console, "console": True, "https": False}, "served only over HTTPS"),
            ({"domain": console, "console": True, "force_https": False}, "always redirects HTTP to HTTPS"),
        ):
            r = c.post("/api/v1/proxy/domains", json=body)
            assert r.status_code == 400, (body, r.text)
            assert needle in r.json()["message"]
        assert console not in _domain_names(c)
        r = c.post("/api/v1/proxy/domains", json={"domain": console, "console": True})
        assert r.status_code == 200, r.text
        added = r.json()
        assert added["https"] and added["force_https"] and added["console"]
        assert added["upstream"] == f"127.0.0.1:{stack.port}"  # AppOS's own gateway
    root = pebble.issuing_root()
    body, _ = wait_for(
        lambda: _try_https(stack, console, root, "/health"), timeout=60, what="the console over HTTPS"
    )
    assert json.loads(body)["status"] == json.loads(fetch_direct(stack.url + "/health")[1])["status"]
    assert http_get(stack, console) == (308, f"https://{console}:{_ports(stack)[1]}/")

    with stack.client(operator) as c:
        r = c.delete(f"/api/v1/proxy/domains/{console}")
        assert r.status_code == 403, r.text
        assert "only an admin" in r.json()["message"]
        assert console in _domain_names(c)
    https_get(stack, console, root, "/health")  # still served (it asserts the 200)
    with stack.client(admin) as c:
        assert c.delete(f"/api/v1/proxy/domains/{console}").status_code == 200
        assert c.delete("/api/v1/users/domainops").status_code == 200
    assert http_get(stack, console)[0] == 404


@contextlib.contextmanager
def _wrong_server(port: int) -> Iterator[str]:
    """A web server of no AppOS on `port` at a container's own address (its name resolved there
    passes proxyctl's port check, but it answers no ACME challenge): the address."""
    client = docker_client()
    try:
        container = client.containers.run(
            BUSYBOX_IMAGE,
            ["sh", "-c", f"mkdir -p /www && exec httpd -f -p {port} -h /www"],
            name=f"wrong-server-{uuid.uuid4().hex[:6]}",
            detach=True,
        )
        try:
            container.reload()
            yield str(container.attrs["NetworkSettings"]["IPAddress"])
        finally:
            container.remove(force=True)
    finally:
        client.close()


def test_a_failed_challenge_is_reported_failed_with_caddys_reason(
    proxy_stack: tuple[Stack, Pebble], site: tuple[str, int], busybox_image: str
) -> None:
    """The name points at another server: Pebble's challenge fails there, and the API says `failed`
    with Caddy's reason while Caddy waits to retry (the periodic check is an hour away)."""
    stack, pebble = proxy_stack
    token = stack.login()
    domain = "elsewhere.appos.test"
    http_port, _ = _ports(stack)
    with _wrong_server(http_port) as address:
        pebble.point(domain, address)
        try:
            wait_for(lambda: _listens(address, http_port), timeout=30, what="the other server")
            with stack.client(token) as c:
                r = c.post(
                    "/api/v1/proxy/domains",
                    json={"domain": domain, "app": SITE, "service": "web", "port": 8080},
                )
                assert r.status_code == 200, r.text
                assert r.json()["certificate"]["status"] == "pending"
            failed = wait_for(
                lambda: (c := _certificate(stack, token, domain))["status"] == "failed" and c,
                timeout=60,
                what="status failed",
            )
            assert "urn:ietf:params:acme:error" in failed["reason"], failed
            event = _event(stack, token, "certificate_failed", domain)
            assert event["actor"] == "proxyctl"
            # the DNS record is fixed: Renew makes Caddy try again at once (a forced load)
            pebble.point(domain, None)
            with stack.client(token) as c:
                assert c.post(f"/api/v1/proxy/domains/{domain}/certificate", json={}).status_code == 200
            wait_for(
                lambda: _certificate(stack, token, domain)["status"] == "valid", timeout=60, what="renewed"
            )
            with stack.client(token) as c:
                assert c.delete(f"/api/v1/proxy/domains/{domain}").status_code == 200
        finally:
            pebble.point(domain, None)


def _listens(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False
