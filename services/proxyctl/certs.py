"""Certificate status, read from the certificates Caddy stored (never assumed), and issuance errors
from Caddy's own log."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


CANCELLED = "context canceled"  # Caddy stopped its own attempt (a new config): no reason to report


def _reason(entry: dict[str, Any]) -> str:
    """What went wrong, in Caddy's (or the ACME server's) words: its `error` with the ACME problem
    type when that is apart (`"challenge failed"` lines), else the problem, else the message."""
    error = str(entry.get("error") or "")
    problem_type = str(entry.get("problem_type") or "")
    problem = entry.get("problem")
    if error and problem_type and problem_type not in error:
        error = f"{problem_type} - {error}"
    elif not error and isinstance(problem, dict) and problem.get("detail"):
        error = f"{problem.get('type', '')} - {problem['detail']}".strip(" -")
    return (error or str(entry.get("msg") or ""))[:1000]


def _certificate_error(line: bytes) -> dict[str, Any] | None:
    """A line of Caddy's JSON log that is an error (not a cancelled try), parsed."""
    if b'"level":"error"' not in line:
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict) or CANCELLED in str(entry.get("error", "")):
        return None
    return entry


def last_error(log_path: Path, domain: str) -> str:
    """Caddy's newest error about obtaining a certificate for `domain` (its JSON log), or ""."""
    try:
        with open(log_path, "rb") as log:
            log.seek(0, 2)
            size = log.tell()
            log.seek(max(0, size - LOG_TAIL_BYTES))
            lines = log.read().splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        entry = _certificate_error(line) if domain.encode() in line else None
        if entry is not None and (entry.get("identifier") == domain or domain in entry.get("msg", "")):
            return _reason(entry)
    return ""


@dataclass(frozen=True)
class LogMark:
    """A place in Caddy's log: the file (inode) and how far it had been written."""

    inode: int
    offset: int


def log_mark(log_path: Path) -> LogMark:
    try:
        stat = log_path.stat()
    except OSError:
        return LogMark(0, 0)
    return LogMark(stat.st_ino, stat.st_size)


class LogTail:
    """Caddy's certificate errors written after a mark, read a little at a time as the log grows:
    `errors()` gives each name's newest one so far. A log that was rotated (another inode) or cut is
    read again from its start."""

    def __init__(self, log_path: Path, mark: LogMark) -> None:
        self.log_path = log_path
        self._inode, self._offset = mark.inode, mark.offset
        self._partial = b""
        self._errors: dict[str, str] = {}

    def errors(self) -> dict[str, str]:
        try:
            with open(self.log_path, "rb") as log:
                stat = os.fstat(log.fileno())
                if stat.st_ino != self._inode or stat.st_size < self._offset:
                    self._inode, self._offset, self._partial = stat.st_ino, 0, b""
                log.seek(self._offset)
                data = log.read(LOG_TAIL_BYTES)
        except OSError:
            return dict(self._errors)
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        if len(self._partial) > LOG_TAIL_BYTES:  # no line is that long: not a log line worth keeping
            self._partial = b""
        for line in lines:
            entry = _certificate_error(line)
            if entry is not None and entry.get("identifier"):
                self._errors[str(entry["identifier"])] = _reason(entry)
        return dict(self._errors)


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
