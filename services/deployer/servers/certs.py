"""The TLS material of a tcp:// server, checked before anything is saved: the CA certificate that
signed the engine's certificate, AppOS's client certificate, and its private key (which must be
the certificate's). Stored in `$APPOS_DATA/servers/<name>/` (ca.pem, cert.pem, key.pem, each 0600 in
a 0700 folder); the key is never logged nor returned, and no error message quotes any of them."""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from services.common.errors import InvalidArgument
from services.common.secretfiles import StagedSecret

MAX_PEM = 64 * 1024
FILES = ("ca.pem", "cert.pem", "key.pem")


@dataclass(frozen=True)
class TlsMaterial:
    ca_pem: str
    cert_pem: str
    key_pem: str

    def save(self, folder: Path) -> None:
        """The three files in `folder` (0600 each, the folder 0700), each replaced atomically."""
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name, value in zip(FILES, (self.ca_pem, self.cert_pem, self.key_pem), strict=True):
            StagedSecret(folder / name, value).commit()


def paths(folder: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, cert.pem, key.pem) in a server's folder."""
    return folder / FILES[0], folder / FILES[1], folder / FILES[2]


def check_material(*, ca_pem: str, cert_pem: str, key_pem: str) -> TlsMaterial:
    """InvalidArgument naming the field and what is wrong, unless the three PEMs are usable."""
    if not (ca_pem.strip() and cert_pem.strip() and key_pem.strip()):
        raise InvalidArgument(
            "a tcp:// server needs its CA certificate, AppOS's client certificate and its key "
            "(ca_pem, cert_pem, key_pem): plain tcp:// without TLS is refused"
        )
    ca = _certificates(ca_pem, "ca_pem", "the CA certificate")
    cert = _certificates(cert_pem, "cert_pem", "the client certificate")[0]
    key = _private_key(key_pem)
    now = datetime.datetime.now(datetime.UTC)
    for what, field, c in (
        ("the CA certificate", "ca_pem", ca[0]),
        ("the client certificate", "cert_pem", cert),
    ):
        if c.not_valid_after_utc < now:
            raise InvalidArgument(f"{what} ({field}) expired on {c.not_valid_after_utc:%Y-%m-%d}")
    if _public_bytes(key.public_key()) != _public_bytes(cert.public_key()):  # type: ignore[attr-defined]
        raise InvalidArgument("the private key (key_pem) is not the client certificate's (cert_pem)")
    return TlsMaterial(ca_pem=_norm(ca_pem), cert_pem=_norm(cert_pem), key_pem=_norm(key_pem))


def fingerprint(der: bytes) -> str:
    """`SHA256:` and the 64 hex digits of a certificate's DER bytes (as openssl's -fingerprint
    prints them, without the colons)."""
    return "SHA256:" + hashlib.sha256(der).hexdigest()


def der_to_pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()


def _norm(pem: str) -> str:
    return pem.strip() + "\n"


def _certificates(pem: str, field: str, what: str) -> list[x509.Certificate]:
    _size(pem, field)
    try:
        found = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise InvalidArgument(
            f"{what} ({field}) is not a PEM certificate (-----BEGIN CERTIFICATE-----)"
        ) from exc
    return found


_KEY_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)


def _private_key(pem: str) -> object:
    _size(pem, "key_pem")
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except TypeError as exc:
        raise InvalidArgument("the private key (key_pem) is encrypted; give it without a passphrase") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidArgument("the private key (key_pem) is not a PEM private key") from exc
    if not isinstance(key, _KEY_TYPES):
        raise InvalidArgument("the private key (key_pem) is not an RSA, EC or Ed25519 key")
    return key


def _public_bytes(key: object) -> bytes:
    der: bytes = key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def _size(pem: str, field: str) -> None:
    if len(pem) > MAX_PEM:
        raise InvalidArgument(f"{field} is larger than {MAX_PEM // 1024} KiB")
