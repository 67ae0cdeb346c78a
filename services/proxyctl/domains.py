"""Domain names: validation (RFC 1123), who may publish the console, and the checks before asking
for a certificate."""

from __future__ import annotations

import re
import socket

from appos.v1 import proxy_pb2
from services.common.errors import InvalidArgument, PermissionDenied
from services.common.roles import role_allows

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def validate_domain(name: str) -> str:
    name = name.strip().lower().rstrip(".")
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidArgument(
            f"{name!r} is not a valid domain name: labels of 1-63 letters, digits or '-', separated by dots"
        )
    if labels[-1].isdigit():
        raise InvalidArgument(f"{name!r} looks like an IP address; give a domain name")
    return name


def resolve(name: str, dns_server: str) -> list[str]:
    """The addresses `name` resolves to (through `dns_server` when set), or InvalidArgument."""
    try:
        if dns_server:
            return _ask(name, dns_server)
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
        return sorted({str(info[4][0]) for info in infos})
    except (socket.gaierror, OSError) as exc:
        raise InvalidArgument(_unresolved(name, _socket_words(exc))) from exc


def _ask(name: str, dns_server: str) -> list[str]:
    """The A records of `name` from `dns_server` (host:port). dnspython is imported here, when a
    server is configured, not at start nor for the system resolver: ~4.5 MiB, and ~35 ms of the
    first domain's add on this machine."""
    import dns.exception
    import dns.resolver

    host, _, port = dns_server.rpartition(":")
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = int(port)
    resolver.lifetime = 3.0
    try:
        return [r.to_text() for r in resolver.resolve(name, "A")]
    except dns.exception.DNSException as exc:
        if isinstance(exc, dns.resolver.NXDOMAIN):
            words = "no such name in DNS"
        elif isinstance(exc, dns.resolver.NoAnswer):
            words = "the name has no address record"
        elif isinstance(exc, (dns.exception.Timeout, dns.resolver.NoNameservers)):
            words = "the DNS server did not answer"
        else:
            words = "the lookup failed"
        raise InvalidArgument(_unresolved(name, words)) from exc


def _unresolved(name: str, words: str) -> str:
    return (
        f"{name} does not resolve to an address ({words}): point its DNS A/AAAA record at this server, "
        "then try again"
    )


def _socket_words(exc: OSError) -> str:
    """Why the system resolver failed, in words rather than the exception's class name."""
    if isinstance(exc, socket.gaierror) and exc.errno in (
        socket.EAI_NONAME,
        getattr(socket, "EAI_NODATA", -5),
    ):
        return "no such name in DNS"
    if isinstance(exc, socket.gaierror) and exc.errno == socket.EAI_AGAIN:
        return "the DNS server did not answer"
    return "the lookup failed"


def check_reachable(name: str, addresses: list[str], port: int) -> None:
    """The ACME HTTP challenge comes to port 80 (APPOS_PROXY_HTTP_PORT) of the name's address."""
    for address in addresses:
        try:
            with socket.create_connection((address, port), timeout=3):
                return
        except OSError:
            continue
    raise InvalidArgument(
        f"{name} resolves to {', '.join(addresses)}, but port {port} is not reachable there: the ACME "
        "HTTP challenge would fail (open the port in the firewall, or check the DNS record)"
    )


CONSOLE_ADMIN_ONLY = "only an admin can put the AppOS console on a domain or take it off one"


def check_console_role(role: str) -> None:
    """Only an admin adds or removes a console domain (operators manage app domains)."""
    if not role_allows(role, "admin"):
        raise PermissionDenied(CONSOLE_ADMIN_ONLY)


def check_console_request(request: proxy_pb2.AddDomainRequest, *, role: str) -> None:
    """Publishing the console is an admin's decision, and only over HTTPS with HTTP redirected."""
    check_console_role(role)
    if request.app or request.service or request.port:
        raise InvalidArgument("a console domain takes no app, service or port")
    if request.HasField("https") and not request.https:
        raise InvalidArgument(
            "the console is served only over HTTPS (its logins and tokens must not cross the network "
            "in the clear): leave https on"
        )
    if request.HasField("force_https") and not request.force_https:
        raise InvalidArgument("a console domain always redirects HTTP to HTTPS: leave force_https on")
