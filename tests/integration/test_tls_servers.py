"""Servers reached over Docker's TLS port (issue 21), on a real stack and a real remote server
(tests/remote.py: a network namespace whose dockerd also listens on tcp://<address>:2376 with
--tlsverify and certificates this test makes, tests/tlscerts.py): added with a CA, a client
certificate and its key (the engine's certificate fingerprint pinned and in the reply, the key kept
0600 and never returned), an app deployed there (its folder copied through the Docker API), served
on its published port, its logs read, a terminal opened in its container (docker exec's hijacked
stream through the link), a kill and a start made there behind AppOS's back followed (the watcher's
event stream through the link), removed; a changed engine certificate refused until an admin
re-pins it; the link made again when the deployer restarts; a network cut turns it down with why and
it comes back by itself; the server removed with its files.
Bad input is refused with a clear reason and nothing saved: plain tcp://, an unparsable PEM, a key
not the certificate's, a CA that did not sign the engine's certificate, a client certificate the
engine does not trust, no engine at the port. Nothing leaves the machine."""

from __future__ import annotations

import hashlib
import stat
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from services.common.labels import BACKUP_HELPER_LABEL
from tests.harness import Stack, running_stack, wait_for
from tests.integration.test_terminal import open_term
from tests.remote import TLS_PORT, RemoteServer, remote_server
from tests.tlscerts import Ca, Issued, make_ca

pytestmark = [pytest.mark.xdist_group("servers")]

COMPOSE = """services:
  web:
    image: appos-test/busybox:latest
    pull_policy: never
    init: true
    command:
      - sh
      - -c
      - >-
        mkdir -p /www && echo $${MESSAGE} > /www/index.html && echo $${MESSAGE} > /data/seen
        && echo serving $${MESSAGE} && httpd -f -p 8080 -h /www
    environment:
      MESSAGE: ${MESSAGE}
    volumes:
      - ./data:/data
    ports:
      - "${PORT}:8080"
"""


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    """A stack that probes its servers every second (the default is 10 s)."""
    with running_stack(
        tmp_path_factory.mktemp("tls-servers"), extra_env={"APPOS_SERVER_PROBE_SECONDS": "1"}
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def token(own_stack: Stack) -> str:
    return own_stack.login()


@pytest.fixture(scope="module")
def ca() -> Ca:
    return make_ca("appos-test-engine-ca")


@pytest.fixture(scope="module")
def client_cert(ca: Ca) -> Issued:
    return ca.issue("appos", client=True)


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory, ca: Ca) -> Iterator[RemoteServer]:
    """A remote server whose engine listens on tcp://<address>:2376 with --tlsverify."""
    with remote_server(tmp_path_factory.mktemp("tls-remote"), name="t1") as server:
        _serve_new_certificate(server, ca)
        yield server


def _serve_new_certificate(server: RemoteServer, ca: Ca) -> str:
    """A new engine certificate for the server's address, served; its `SHA256:<hex>`."""
    issued = ca.issue("engine", ip=server.address)
    folder = server.folder / "tls"
    cert, key = issued.write(folder, f"engine-{uuid.uuid4().hex[:6]}")
    server.serve_tls(ca=ca.write(folder), cert=cert, key=key)
    der = x509.load_pem_x509_certificate(issued.cert_pem.encode()).public_bytes(serialization.Encoding.DER)
    return "SHA256:" + hashlib.sha256(der).hexdigest()


def _add(stack: Stack, token: str, **body: str) -> Any:
    with stack.client(token) as c:
        return c.post("/api/v1/servers", json=body, timeout=90)


def _server(stack: Stack, token: str, name: str) -> dict[str, Any]:
    with stack.client(token) as c:
        r = c.get(f"/api/v1/servers/{name}")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def _status_or_none(stack: Stack, token: str, name: str) -> str | None:
    """The server's status, or None while the deployer does not answer."""
    with stack.client(token) as c:
        r = c.get(f"/api/v1/servers/{name}")
    return str(r.json()["status"]) if r.status_code == 200 else None


def _names(stack: Stack, token: str) -> list[str]:
    with stack.client(token) as c:
        return [s["name"] for s in c.get("/api/v1/servers").json()["servers"]]


def _deployment_log(stack: Stack, token: str, deployment: dict[str, Any]) -> str:
    with stack.client(token) as c:
        lines = c.get(f"/api/v1/deployments/{deployment['id']}/logs").json()
    return f"{deployment}\n{lines}"


def _helpers_created(server: RemoteServer, *, since: int) -> int:
    """How many helper containers (the folder copy's) were created on the server's engine."""
    client = server.docker_client()
    try:
        events = client.events(
            since=since, until=int(time.time()) + 1, decode=True,
            filters={"type": "container", "event": "create", "label": BACKUP_HELPER_LABEL},
        )  # fmt: skip
        return len(list(events))
    finally:
        client.close()


def _container(server: RemoteServer, app: str) -> Any:
    client = server.docker_client()
    try:
        (found,) = client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project=appos-{app}"}
        )
        return found
    finally:
        client.close()


def _app_status(stack: Stack, token: str, app: str) -> str:
    with stack.client(token) as c:
        return str(c.get(f"/api/v1/apps/{app}").json()["status"])


def _page(address: str, port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/", timeout=5) as page:
            return str(page.read().decode().strip())
    except OSError:
        return None


def test_bad_tls_servers_are_refused_clearly_and_nothing_is_saved(
    own_stack: Stack, token: str, remote: RemoteServer, ca: Ca, client_cert: Issued
) -> None:
    other = make_ca("someone-else")
    stranger = other.issue("appos", client=True)
    good = {"ca_pem": ca.pem, "cert_pem": client_cert.cert_pem, "key_pem": client_cert.key_pem}
    url = remote.tls_url
    cases: list[tuple[dict[str, str], str]] = [
        ({"address": url}, "plain tcp:// without TLS is refused"),
        ({"address": url, **good, "ca_pem": "not a certificate"}, "(ca_pem) is not a PEM certificate"),
        ({"address": url, **good, "cert_pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"},
         "(cert_pem) is not a PEM certificate"),
        ({"address": url, **good, "key_pem": "garbage"}, "(key_pem) is not a PEM private key"),
        ({"address": url, **good, "key_pem": stranger.key_pem}, "is not the client certificate's"),
        ({"address": url, **good, "ca_pem": other.pem}, "not signed by the CA given (ca_pem)"),
        ({"address": url, "ca_pem": ca.pem, "cert_pem": stranger.cert_pem, "key_pem": stranger.key_pem},
         "refused AppOS's client certificate"),
        ({"address": f"tcp://{remote.address}:{TLS_PORT + 1}", **good}, "nothing accepts connections"),
        ({"address": url, **good, "docker_socket": "/var/run/docker.sock"}, "docker_socket is for ssh://"),
        ({"address": "tcp://user@host:2376", **good}, "tcp://host:port"),
    ]  # fmt: skip
    for body, needle in cases:
        r = _add(own_stack, token, name="bad1", **body)
        assert r.status_code == 400, (body.get("address"), needle, r.text)
        reply = r.json()
        assert reply["code"] and needle in reply["message"], (needle, reply)
        assert "PRIVATE KEY" not in r.text  # no PEM ever quoted back
    assert _names(own_stack, token) == ["local"]
    servers_dir = own_stack.data / "servers"
    assert not servers_dir.exists() or list(servers_dir.iterdir()) == []
    assert not (own_stack.run_dir / "s" / "bad1").exists()


def test_a_tls_server_runs_an_app_and_a_changed_certificate_waits_for_a_repin(
    own_stack: Stack, token: str, remote: RemoteServer, ca: Ca, client_cert: Issued
) -> None:
    pinned = _serve_new_certificate(remote, ca)
    body = {"ca_pem": ca.pem, "cert_pem": client_cert.cert_pem, "key_pem": client_cert.key_pem}
    r = _add(own_stack, token, name="t1", address=remote.tls_url, **body)
    assert r.status_code == 201, r.text
    added = r.json()
    name, port = f"tls{uuid.uuid4().hex[:6]}", 18181
    try:
        assert added["host_key_fingerprint"] == pinned, added
        assert added["transport"] == "tls" and added["address"] == remote.tls_url, added
        assert added["status"] == "up" and added["api_version"] and added["engine_version"], added
        assert "PRIVATE KEY" not in r.text
        folder = own_stack.data / "servers" / "t1"
        for stored in ("ca.pem", "cert.pem", "key.pem"):
            assert stat.S_IMODE((folder / stored).stat().st_mode) == 0o600, stored
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert not any(
            "BEGIN PRIVATE KEY" in p.read_text(errors="replace") for p in (own_stack.data / "log").glob("*")
        )
        assert _add(own_stack, token, name="t1", address=remote.tls_url, **body).status_code == 409

        # an app there: its folder (compose, .env, ./site) copied through the Docker API, then run
        started = int(time.time()) - 1
        _, deployment = own_stack.deploy(
            token, {"name": name, "server": "t1", "compose": COMPOSE, "env": f"MESSAGE=hi\nPORT={port}\n"}
        )
        assert deployment["status"] == "succeeded", _deployment_log(own_stack, token, deployment)
        assert wait_for(lambda: _page(remote.address, port), timeout=30, what="the app's page") == "hi"
        # (the test's server shares this machine's files: the copy shows as its helper container)
        assert _helpers_created(remote, since=started) == 1
        assert any(name in c for c in remote.containers()), remote.containers()
        with own_stack.client(token) as c:
            logs = c.get(f"/api/v1/apps/{name}/logs", params={"tail": 50})
            assert logs.status_code == 200, logs.text
            assert any(
                x["service"] == "web" and x["line"].startswith("serving") for x in logs.json()["lines"]
            )
            assert c.get(f"/api/v1/apps/{name}").json()["status"] == "running"
        # a terminal in its container there (docker exec's hijacked stream through the link)
        with open_term(own_stack, token, target=f"app:{name}/web", cols="90", rows="20") as (term, opened):
            assert opened["target"] == f"app:{name}/web"
            term.run("echo IN-$(cat /data/seen)", b"IN-hi")
        # the watcher follows the engine's event stream through the link: a kill there shows here
        _container(remote, name).kill()
        wait_for(lambda: _app_status(own_stack, token, name) == "stopped", timeout=30, what="the app stopped")
        _container(remote, name).start()
        wait_for(lambda: _app_status(own_stack, token, name) == "running", timeout=30, what="running again")
        with own_stack.client(token) as c:
            r = c.delete(f"/api/v1/apps/{name}", params={"remove_volumes": "true"})
            assert r.status_code == 202, r.text
            assert own_stack.wait_deployment(token, r.json()["deployment"]["id"])["status"] == "succeeded"
        assert not any(name in c for c in remote.containers()), remote.containers()

        # the engine's certificate changes (same CA): refused until an admin re-pins it
        renewed = _serve_new_certificate(remote, ca)
        refused = wait_for(
            lambda: (s := _server(own_stack, token, "t1"))["status"] == "down" and "re-pin" in s["error"]
            and s,
            timeout=60, what="the changed certificate refused",
        )  # fmt: skip
        assert renewed in refused["error"] and refused["host_key_fingerprint"] == pinned, refused
        with own_stack.client(token) as c:
            r = c.post("/api/v1/servers/t1/repin", json={}, timeout=90)
        assert r.status_code == 200 and r.json()["host_key_fingerprint"] == renewed, r.text
        wait_for(lambda: _server(own_stack, token, "t1")["status"] == "up", timeout=60, what="t1 up again")

        # the deployer starts again: the link is made from state and the stored files, nothing asked
        own_stack.supervisorctl("restart", "deployer")
        wait_for(
            lambda: _status_or_none(own_stack, token, "t1") == "up", timeout=90, what="t1 up after a restart"
        )
        assert _server(own_stack, token, "t1")["host_key_fingerprint"] == renewed

        # the network is cut: down after three failed probes, with why; up again by itself after
        remote.cut()
        try:
            down = wait_for(
                lambda: (s := _server(own_stack, token, "t1"))["status"] == "down" and s,
                timeout=90, what="t1 down",
            )  # fmt: skip
            assert "did not answer within" in down["error"], down
        finally:
            remote.restore()
        wait_for(
            lambda: _server(own_stack, token, "t1")["status"] == "up", timeout=60, what="t1 back by itself"
        )
    finally:
        with own_stack.client(token) as c:
            c.delete(f"/api/v1/apps/{name}", params={"remove_volumes": "true"})
            assert c.delete("/api/v1/servers/t1").status_code == 200
    assert _names(own_stack, token) == ["local"]
    assert not (own_stack.data / "servers" / "t1").exists()
    assert not (own_stack.run_dir / "s" / "t1" / "docker.sock").exists()
