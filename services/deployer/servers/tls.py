"""Talking TLS to a tcp:// server's engine: the client context (the CA given at add, AppOS's client
certificate and key; the engine's certificate must name the address's host or IP), one checked
handshake that returns the engine's certificate, and what a failure means in plain words."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from services.deployer.servers.address import TlsAddress

CONNECT_SECONDS = 5.0
PING = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"


class TlsRefused(Exception):
    """The engine could not be reached over TLS; the message says why, for the user."""


def client_context(*, ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    return context  # check_hostname and CERT_REQUIRED by default: the host name or IP SAN is checked


def changed_message(address: TlsAddress, seen: str, pinned: str) -> str:
    return (
        f"the certificate of the engine at {address.host}:{address.port} is not the one pinned when "
        f"the server was added (it shows {seen}, {pinned} is pinned); if it changed for a good "
        "reason (renewed), re-pin it: POST /api/v1/servers/NAME/repin"
    )


def fetch_certificate(
    address: TlsAddress, context: ssl.SSLContext, *, timeout: float = CONNECT_SECONDS
) -> bytes:
    """The engine's certificate (DER) after a full handshake and a `GET /_ping` answered by Docker
    (with TLS 1.3 the engine refuses a client certificate only once the handshake is over)."""
    der: bytes | None = None
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=address.host) as tls:
                der = tls.getpeercert(binary_form=True)
                tls.sendall(PING)
                answer = _read_head(tls)
    except (OSError, ssl.SSLError) as exc:
        if der and not isinstance(exc, TimeoutError):  # our handshake was over: the engine hung up
            raise TlsRefused(_refused_client(address, exc)) from exc
        raise TlsRefused(explain(exc, address)) from exc
    if der and not answer:
        raise TlsRefused(_refused_client(address, None))
    if not der:
        raise TlsRefused(f"the engine at {address.host}:{address.port} showed no certificate")
    if not answer.startswith(b"HTTP/1.") or b" 200 " not in answer.split(b"\r\n", 1)[0] + b" ":
        raise TlsRefused(f"what answers TLS at {address.host}:{address.port} is not a Docker engine")
    return der


def _read_head(tls: ssl.SSLSocket) -> bytes:
    data = b""
    while b"\r\n" not in data and len(data) < 4096:
        chunk = tls.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _refused_client(address: TlsAddress, exc: BaseException | None) -> str:
    said = getattr(exc, "reason", None) or (type(exc).__name__ if exc else "closed")
    return (
        f"the engine at {address.host}:{address.port} refused AppOS's client certificate (cert_pem): "
        f"is it signed by the CA the engine trusts (--tlscacert)? ({said})"
    )


def explain(exc: BaseException, address: TlsAddress) -> str:
    """What a failed connection or handshake means for the user, with the next step."""
    where = f"{address.host}:{address.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        said = exc.verify_message or str(exc)
        if "mismatch" in said.lower():
            return (
                f"the engine's certificate at {where} is not made out to {address.host} ({said}): "
                "use the host name or IP address its certificate names"
            )
        return f"the engine's certificate at {where} is not signed by the CA given (ca_pem): {said}"
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or str(exc)).lower()
        if "certificate" in reason or "alert" in reason or "handshake" in reason:
            return _refused_client(address, exc)
        return (
            f"what answers at {where} does not speak TLS ({exc.reason or exc}); an engine without "
            "--tlsverify is refused"
        )
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing accepts connections at {where} (is dockerd listening there with --tlsverify?)"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return f"the engine at {where} closed the connection during the TLS handshake (does it speak TLS?)"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"{where} did not answer within {int(CONNECT_SECONDS)} s (its network or the engine is down)"
    return f"{where} cannot be reached ({exc.strerror or exc})" if isinstance(exc, OSError) else str(exc)
