"""tcp:// servers (issue 21): the address grammar, the PEM checks, and the TLS link against a real
TLS server on loopback that answers as Docker's API does (`/_ping`, `/version`, `/info`) and
requires a client certificate from its CA."""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from services.common.errors import InvalidArgument
from services.deployer.servers import certs, tls
from services.deployer.servers.address import SshAddress, TlsAddress, parse_address
from services.deployer.servers.tlslink import TlsLink
from services.deployer.servers.tunnel import DOWN, UP
from tests.harness import wait_for
from tests.tlscerts import Ca, Issued, make_ca

# --- the address ---


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("tcp://10.0.0.2", TlsAddress(host="10.0.0.2", port=2376)),
        (" tcp://engine.example.com:2377/ ", TlsAddress(host="engine.example.com", port=2377)),
        ("tcp://[fd00::2]:2376", TlsAddress(host="fd00::2", port=2376)),
        ("ssh://deploy@10.0.0.2", SshAddress(user="deploy", host="10.0.0.2", port=22)),
    ],
)
def test_addresses_are_parsed(text: str, parsed: object) -> None:
    assert parse_address(text) == parsed


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("tcp://root@10.0.0.2:2376", "tcp://host:port"),
        ("tcp://10.0.0.2:2376/v1.41", "tcp://host:port"),
        ("tcp://10.0.0.2:2376?x=1", "tcp://host:port"),
        ("tcp://-oProxyCommand=x", "not a host name"),
        ("tcp://10.0.0.2:0", "between 1 and 65535"),
        ("tcp://10.0.0.2:99999", "not a server address"),
        ("http://10.0.0.2:2376", "ssh://user@host"),
        ("ssh://root@10.0.0.2:0", "between 1 and 65535"),
    ],
)
def test_bad_addresses_are_refused(text: str, needle: str) -> None:
    with pytest.raises(InvalidArgument, match=needle.replace("?", r"\?")):
        parse_address(text)


def test_a_tls_address_prints_as_given() -> None:
    assert str(TlsAddress(host="fd00::2", port=2376)) == "tcp://[fd00::2]:2376"
    assert str(parse_address("tcp://h")) == "tcp://h:2376"


# --- the PEMs ---


@pytest.fixture(scope="module")
def ca() -> Ca:
    return make_ca("unit-ca")


@pytest.fixture(scope="module")
def client(ca: Ca) -> Issued:
    return ca.issue("appos", client=True)


def test_good_material_is_kept_normalized(ca: Ca, client: Issued, tmp_path: Path) -> None:
    material = certs.check_material(
        ca_pem=f"\n{ca.pem}\n\n", cert_pem=client.cert_pem, key_pem=client.key_pem
    )
    assert material.ca_pem == ca.pem and material.key_pem == client.key_pem
    material.save(tmp_path / "s1")
    assert stat.S_IMODE((tmp_path / "s1").stat().st_mode) == 0o700
    for path in certs.paths(tmp_path / "s1"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (tmp_path / "s1" / "key.pem").read_text() == client.key_pem


def test_bad_material_is_refused_by_field_without_quoting_it(ca: Ca, client: Issued) -> None:
    other = make_ca("other").issue("appos", client=True)
    encrypted = (
        serialization.load_pem_private_key(client.key_pem.encode(), password=None)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
        .decode()
    )
    good = {"ca_pem": ca.pem, "cert_pem": client.cert_pem, "key_pem": client.key_pem}
    cases = [
        ({**good, "ca_pem": "", "cert_pem": "", "key_pem": ""}, "plain tcp:// without TLS is refused"),
        ({**good, "key_pem": " "}, "needs its CA certificate"),
        ({**good, "ca_pem": "hello"}, "(ca_pem) is not a PEM certificate"),
        ({**good, "cert_pem": client.key_pem}, "(cert_pem) is not a PEM certificate"),
        ({**good, "key_pem": client.cert_pem}, "(key_pem) is not a PEM private key"),
        ({**good, "key_pem": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
         "not a PEM private key"),
        ({**good, "key_pem": encrypted}, "encrypted"),
        ({**good, "key_pem": other.key_pem}, "not the client certificate's"),
        ({**good, "ca_pem": "x" * (certs.MAX_PEM + 1)}, "larger than"),
    ]  # fmt: skip
    for body, needle in cases:
        with pytest.raises(InvalidArgument) as raised:
            certs.check_material(**body)
        assert needle in raised.value.message, (needle, raised.value.message)
        assert "PRIVATE KEY" not in raised.value.message


def test_an_expired_client_certificate_is_refused(ca: Ca, client: Issued) -> None:
    key = serialization.load_pem_private_key(client.key_pem.encode(), password=None)
    now = datetime.datetime.now(datetime.UTC)
    old = (
        x509.CertificateBuilder()
        .subject_name(ca.cert.subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=10))
        .not_valid_after(now - datetime.timedelta(days=1))
        .sign(ca.key, hashes.SHA256())
    )
    pem = old.public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(InvalidArgument, match=r"client certificate \(cert_pem\) expired"):
        certs.check_material(ca_pem=ca.pem, cert_pem=pem, key_pem=client.key_pem)


# --- a TLS engine on loopback ---


class _Docker(BaseHTTPRequestHandler):
    answers = {
        "/_ping": "OK",
        "/version": json.dumps({"Version": "27.0.0", "ApiVersion": "1.46", "MinAPIVersion": "1.24"}),
        "/info": json.dumps({"NCPU": 2, "MemTotal": 1 << 30}),
    }

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?")[0]
        path = "/" + path.split("/", 2)[2] if path.startswith("/v1.") else path
        body = self.answers.get(path, "{}").encode()
        self.send_response(200 if path in self.answers else 404)
        self.send_header("Content-Type", "text/plain" if path == "/_ping" else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _TlsServer(ThreadingHTTPServer):
    context: ssl.SSLContext

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, peer = self.socket.accept()
        return self.context.wrap_socket(conn, server_side=True), peer


class _Engine:
    def __init__(self, ca: Ca, folder: Path, ip: str = "127.0.0.1") -> None:
        self.ca, self.folder = ca, folder
        self.http = _TlsServer(("127.0.0.1", 0), _Docker)
        self.port = self.http.server_address[1]
        self.serve(ip)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, ip: str) -> str:
        """A new engine certificate (made out to `ip`); its fingerprint."""
        issued = self.ca.issue("engine", ip=ip)
        cert, key = issued.write(self.folder, f"engine-{ip}")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca.write(self.folder)))
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(str(cert), str(key))
        self.http.context = context
        der = x509.load_pem_x509_certificate(issued.cert_pem.encode()).public_bytes(
            serialization.Encoding.DER
        )
        return certs.fingerprint(der)

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def engine(ca: Ca, tmp_path: Path) -> Iterator[_Engine]:
    running = _Engine(ca, tmp_path / "engine")
    yield running
    running.close()


def _files(tmp_path: Path, ca_pem: str, client: Issued) -> Path:
    folder = tmp_path / "appos"
    certs.TlsMaterial(ca_pem=ca_pem, cert_pem=client.cert_pem, key_pem=client.key_pem).save(folder)
    return folder


def _context(folder: Path) -> ssl.SSLContext:
    ca, cert, key = certs.paths(folder)
    return tls.client_context(ca=ca, cert=cert, key=key)


def test_the_engine_certificate_is_fetched_and_failures_are_explained(
    engine: _Engine, ca: Ca, client: Issued, tmp_path: Path
) -> None:
    address = TlsAddress(host="127.0.0.1", port=engine.port)
    good = _files(tmp_path, ca.pem, client)
    assert certs.fingerprint(tls.fetch_certificate(address, _context(good))).startswith("SHA256:")

    other = make_ca("other")
    wrong_ca = _files(tmp_path / "w", other.pem, client)
    with pytest.raises(tls.TlsRefused, match=r"not signed by the CA given \(ca_pem\)"):
        tls.fetch_certificate(address, _context(wrong_ca))
    stranger = _files(tmp_path / "s", ca.pem, other.issue("appos", client=True))
    with pytest.raises(tls.TlsRefused, match="refused AppOS's client certificate"):
        tls.fetch_certificate(TlsAddress(host="127.0.0.1", port=engine.port), _context(stranger))

    engine.serve("127.0.0.2")  # made out to another address
    with pytest.raises(tls.TlsRefused, match="is not made out to 127.0.0.1"):
        tls.fetch_certificate(address, _context(good))

    with socket.socket() as plain:  # something that is not TLS
        plain.bind(("127.0.0.1", 0))
        plain.listen()
        port = plain.getsockname()[1]
        answer = threading.Thread(target=lambda: _say_hello(plain), daemon=True)
        answer.start()
        with pytest.raises(tls.TlsRefused, match="does not speak TLS|closed the connection"):
            tls.fetch_certificate(TlsAddress(host="127.0.0.1", port=port), _context(good))
        port_free = port
    with pytest.raises(tls.TlsRefused, match="nothing accepts connections"):
        tls.fetch_certificate(TlsAddress(host="127.0.0.1", port=port_free), _context(good))


def _say_hello(listener: socket.socket) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.recv(1024)
        conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nnot tls\r\n")


def test_the_link_forwards_docker_calls_and_refuses_a_changed_certificate(
    engine: _Engine, ca: Ca, client: Issued, tmp_path: Path
) -> None:
    address = TlsAddress(host="127.0.0.1", port=engine.port)
    files = _files(tmp_path, ca.pem, client)
    pinned = certs.fingerprint(tls.fetch_certificate(address, _context(files)))
    link = TlsLink(name="t1", address=address, files=files, pinned=pinned, folder=tmp_path / "s" / "t1")
    link.start()
    try:
        assert link.wait_connected(5) and link.connected
        assert stat.S_IMODE(link.local_socket.stat().st_mode) == 0o600
        assert link.probe() and link.status == UP
        assert link.info.api_version == "1.46" and link.info.cpus == 2 and link.connections >= 1

        renewed = engine.serve("127.0.0.1")  # the engine shows another certificate, same CA
        for _ in range(3):
            assert not link.probe()
        assert link.status == DOWN
        assert renewed in link.error and pinned in link.error and "re-pin" in link.error, link.error
        assert not link.answering(wait=0)

        link.pinned = renewed  # what a re-pin makes
        assert link.answering(wait=0) and link.status == UP and link.error == ""
    finally:
        link.stop()
    assert not link.local_socket.exists()
    wait_for(
        lambda: not link._thread or not link._thread.is_alive(), timeout=5, what="the link's thread to end"
    )
