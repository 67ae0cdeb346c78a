"""Certificate status from Caddy's own words: its JSON log read from a mark on (`LogTail`), the
reason of an error line, and the follower that records a change within a round of it happening."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appos.v1 import proxy_pb2
from services.common.state_client import StateClient
from services.proxyctl import certs
from services.proxyctl.caddy import CaddyAdmin
from services.proxyctl.engine import Engine
from services.proxyctl.issuance import IssuanceFollower, changed
from services.proxyctl.servicer import Proxy
from services.proxyctl.settings import ProxySettings
from tests.harness import wait_for
from tests.unit.stub_by_name import StubByName

URN = "urn:ietf:params:acme:error:unauthorized"

# Caddy 2.6's lines for a failed challenge and for its own cancelled attempt (a new config loaded)
CHALLENGE_FAILED = {
    "level": "error",
    "logger": "http.acme_client",
    "msg": "challenge failed",
    "identifier": "a.example.com",
    "challenge_type": "tls-alpn-01",
    "status_code": 403,
    "problem_type": URN,
    "error": "Failed to connect to 10.0.0.2:443 for the tls-alpn-01 challenge",
}
AUTHORIZATION_FAILED = {
    "level": "error",
    "logger": "http.acme_client",
    "msg": "validating authorization",
    "identifier": "a.example.com",
    "error": f"authorization failed: HTTP 403 {URN} - Non-200 status code from HTTP: … returned 404",
}
CANCELLED = {
    "level": "error",
    "logger": "tls.obtain",
    "msg": "could not get certificate from issuer",
    "identifier": "a.example.com",
    "error": "[a.example.com] context canceled (ca=https://ca.example/dir)",
}


def write(log: Path, *entries: dict[str, Any]) -> None:
    with open(log, "a") as out:
        out.write("\n".join(json.dumps(e, separators=(",", ":")) for e in entries) + "\n")  # as Caddy does


def test_the_reason_names_the_acme_problem() -> None:
    assert certs._reason(CHALLENGE_FAILED) == f"{URN} - {CHALLENGE_FAILED['error']}"
    assert certs._reason(AUTHORIZATION_FAILED) == AUTHORIZATION_FAILED["error"]
    problem = {"msg": "x", "problem": {"type": URN, "detail": "no"}}
    assert certs._reason(problem) == f"{URN} - no"


def test_the_tail_reads_only_what_came_after_the_mark(tmp_path: Path) -> None:
    log = tmp_path / "caddy.log"
    write(log, {**AUTHORIZATION_FAILED, "identifier": "old.example.com"})
    tail = certs.LogTail(log, certs.log_mark(log))
    assert tail.errors() == {}
    write(
        log,
        {"level": "info", "msg": "obtaining certificate", "identifier": "a.example.com"},
        CHALLENGE_FAILED,
    )
    assert tail.errors() == {"a.example.com": f"{URN} - {CHALLENGE_FAILED['error']}"}
    # half a line now, the rest later; Caddy's own cancellation is no reason
    text = json.dumps(AUTHORIZATION_FAILED, separators=(",", ":"))
    with open(log, "a") as out:
        out.write(text[:40])
    assert tail.errors()["a.example.com"].startswith(URN)
    with open(log, "a") as out:
        out.write(text[40:] + "\n")
    write(log, CANCELLED)
    assert tail.errors() == {"a.example.com": AUTHORIZATION_FAILED["error"]}
    # rotated: the new file is read from its start
    log.rename(tmp_path / "caddy.log.1")
    write(log, {**CHALLENGE_FAILED, "identifier": "b.example.com"})
    assert set(tail.errors()) == {"a.example.com", "b.example.com"}


def test_last_error_skips_a_cancelled_attempt(tmp_path: Path) -> None:
    log = tmp_path / "caddy.log"
    write(log, AUTHORIZATION_FAILED, CANCELLED)
    assert certs.last_error(log, "a.example.com") == AUTHORIZATION_FAILED["error"]
    assert certs.last_error(log, "b.example.com") == ""


def test_changed_is_status_reason_or_expiry() -> None:
    a = proxy_pb2.Certificate(domain="a", status="pending")
    assert not changed(a, proxy_pb2.Certificate(domain="a", status="pending", checked_at=a.not_after))
    assert changed(a, proxy_pb2.Certificate(domain="a", status="failed", reason="x"))
    later = proxy_pb2.Certificate(domain="a", status="pending")
    later.not_after.seconds = 1
    assert changed(a, later)


class MemoryState(StateClient):
    """The two calls the follower makes, on a dict (the real state is in the integration tests)."""

    def __init__(self, domains: list[proxy_pb2.Domain]) -> None:
        self.rows = {d.domain: d for d in domains}
        self.updates: list[tuple[str, str]] = []
        self.stub = cast(Any, StubByName(self.call))

    def call(self, method: str, request: Any) -> Any:
        if method == "ListDomains":
            return proxy_pb2.ListDomainsReply(
                domains=[proxy_pb2.Domain().FromString(d.SerializeToString()) for d in self.rows.values()]
            )
        assert method == "UpdateCertificate", method
        cert = request.certificate
        self.updates.append((cert.domain, cert.status))
        self.rows[cert.domain].certificate.CopyFrom(cert)
        return self.rows[cert.domain]


def store_certificate(storage: Path, domain: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=90))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    folder = storage / "certificates" / "ca.example-dir" / domain
    folder.mkdir(parents=True)
    (folder / f"{domain}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def followers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "cert-issuance"]


def test_the_follower_records_caddys_word_and_stops_when_every_name_has_a_certificate(tmp_path: Path) -> None:
    settings = ProxySettings(data=tmp_path, run_dir=tmp_path / "run", acme_ca="https://ca.example/dir")
    settings.caddy_log.parent.mkdir(parents=True)
    write(settings.caddy_log, AUTHORIZATION_FAILED)  # before the load: not this load's word
    pending = proxy_pb2.Certificate(status="pending")
    state = MemoryState(
        [
            proxy_pb2.Domain(domain="a.example.com", https=True, certificate=pending),
            proxy_pb2.Domain(domain="b.example.com", https=True, certificate=pending),
            proxy_pb2.Domain(domain="plain.example.com", https=False),
        ]
    )
    proxy = Proxy(
        settings=settings,
        state=state,
        caddy=CaddyAdmin(tmp_path / "no-caddy.sock"),
        engine=Engine(f"unix://{tmp_path / 'no-docker.sock'}"),
    )
    follower = IssuanceFollower(proxy=proxy, window=60, interval=0.02)
    assert followers() == []  # nothing followed, nothing runs
    follower.follow(certs.log_mark(settings.caddy_log))
    follower.follow(certs.log_mark(settings.caddy_log))  # a second load joins the thread following
    assert len(followers()) == 1

    write(settings.caddy_log, CHALLENGE_FAILED)
    wait_for(lambda: state.rows["a.example.com"].certificate.status == "failed", timeout=10, what="failed")
    assert state.rows["a.example.com"].certificate.reason == f"{URN} - {CHALLENGE_FAILED['error']}"
    store_certificate(settings.caddy_storage, "b.example.com")
    wait_for(lambda: state.rows["b.example.com"].certificate.status == "valid", timeout=10, what="valid")
    assert followers(), "a.example.com has no certificate yet"
    store_certificate(settings.caddy_storage, "a.example.com")
    wait_for(lambda: not followers(), timeout=10, what="the follower to stop")
    assert state.updates == [
        ("a.example.com", "failed"),
        ("b.example.com", "valid"),
        ("a.example.com", "valid"),
    ]
