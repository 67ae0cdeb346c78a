"""Certificate status, read from the certificates Caddy stored (never assumed), and issuance errors
from Caddy's own log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from appos.v1 import proxy_pb2
from services.common.timestamps import MICROS, datetime_us, set_ts

LOG_TAIL_BYTES = 512 * 1024


@dataclass(frozen=True)
class StoredCert:
    path: Path
    not_before: datetime
    not_after: datetime
    issuer: str


def issuer_folder(ca_directory: str) -> str:
    """The folder Caddy (certmagic) keeps a CA's certificates in: its URL without the scheme,
    with ':' and '/' made '-' (Let's Encrypt → acme-v02.api.letsencrypt.org-directory)."""
    key = ca_directory.split("://", 1)[-1]
    return key.replace(":", "-").replace("/", "-").strip("-")


def find_certificate(storage: Path, domain: str, ca_directory: str = "") -> StoredCert | None:
    """The certificate Caddy keeps for `domain` from the configured CA; failing that, the one that
    lasts longest in any issuer folder (e.g. left from a previous CA)."""
    preferred = storage / "certificates" / issuer_folder(ca_directory) / domain / f"{domain}.crt"
    paths = [preferred] if ca_directory and preferred.exists() else []
    paths = paths or list(storage.glob(f"certificates/*/{domain}/{domain}.crt"))
    best: StoredCert | None = None
    for path in paths:
        try:
            cert = x509.load_pem_x509_certificates(path.read_bytes())[0]
        except (ValueError, OSError):
            continue
        names = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
        found = StoredCert(
            path=path,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            issuer=str(names[0].value) if names else cert.issuer.rfc4514_string(),
        )
        if best is None or found.not_after > best.not_after:
            best = found
    return best


def last_error(log_path: Path, domain: str) -> str:
    """Caddy's newest error about obtaining a certificate for `domain` (its JSON log), or ""."""
    try:
        with open(log_path, "rb") as log:
            log.seek(0, 2)
            size = log.tell()
            log.seek(max(0, size - LOG_TAIL_BYTES))
            lines = log.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if domain not in line or '"level":"error"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("identifier") == domain or domain in entry.get("msg", ""):
            return str(entry.get("error") or entry.get("msg") or "")[:1000]
    return ""


def status(
    domain: proxy_pb2.Domain, stored: StoredCert | None, error: str, *, now: datetime, warning_days: int
) -> proxy_pb2.Certificate:
    cert = proxy_pb2.Certificate(domain=domain.domain)
    if not domain.https:
        cert.status = "none"
        return cert
    if stored is None:
        cert.status, cert.reason = ("failed", error) if error else ("pending", "")
        return cert
    set_ts(cert.not_before, datetime_us(stored.not_before))
    set_ts(cert.not_after, datetime_us(stored.not_after))
    cert.issuer = stored.issuer
    left = stored.not_after - now
    cert.days_left = max(0, int(left.total_seconds() * MICROS) // (86400 * MICROS))
    if left.total_seconds() <= 0:
        cert.status, cert.reason = "failed", f"expired on {stored.not_after:%Y-%m-%d}"
    elif left.days < warning_days:
        cert.status, cert.reason = (
            "expiring",
            f"expires in {cert.days_left} days ({stored.not_after:%Y-%m-%d})",
        )
    else:
        cert.status = "valid"
    return cert


def utcnow() -> datetime:
    return datetime.now(UTC)
