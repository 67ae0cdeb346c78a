"""A server's address: `ssh://user@host[:port]`, or `tcp://host[:port]` for an engine that speaks TLS
with client certificates (issue 21); nothing else."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.common.errors import InvalidArgument

_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
_SOCKET = re.compile(r"^/[A-Za-z0-9._/-]{1,200}$")
DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"
DEFAULT_TLS_PORT = 2376


@dataclass(frozen=True)
class SshAddress:
    user: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{self.user}@{host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """How known_hosts names the host: `host`, or `[host]:port` off port 22."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


@dataclass(frozen=True)
class TlsAddress:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


def parse_address(text: str) -> SshAddress | TlsAddress:
    text = text.strip()
    if text.startswith("tcp://"):
        return _parse_tcp(text)
    try:
        parts = urlsplit(text)
        port = 22 if parts.port is None else parts.port  # :0 is refused below
    except ValueError as exc:
        raise InvalidArgument(f"not a server address: {exc}") from exc
    if (
        parts.scheme != "ssh"
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.password
    ):
        raise InvalidArgument("a server address is ssh://user@host:port (port 22 when left out)")
    user, host = parts.username or "", parts.hostname or ""
    if not _USER.fullmatch(user):
        raise InvalidArgument("the address needs the user AppOS signs in as: ssh://user@host:port")
    if not _is_host(host):
        raise InvalidArgument(f"{host!r} is not a host name or IP address")
    if not 1 <= port <= 65535:
        raise InvalidArgument("the SSH port must be between 1 and 65535")
    return SshAddress(user=user, host=host, port=port)


def _parse_tcp(text: str) -> TlsAddress:
    try:
        parts = urlsplit(text)
        port = DEFAULT_TLS_PORT if parts.port is None else parts.port
    except ValueError as exc:
        raise InvalidArgument(f"not a server address: {exc}") from exc
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidArgument("a TLS server address is tcp://host:port (port 2376 when left out)")
    host = parts.hostname or ""
    if not _is_host(host):
        raise InvalidArgument(f"{host!r} is not a host name or IP address")
    if not 1 <= port <= 65535:
        raise InvalidArgument("the port must be between 1 and 65535")
    return TlsAddress(host=host, port=port)


def parse_socket(text: str) -> str:
    path = text.strip() or DEFAULT_DOCKER_SOCKET
    if not _SOCKET.fullmatch(path) or "/../" in f"{path}/":
        raise InvalidArgument(
            "the Docker socket is an absolute path on the server, like /var/run/docker.sock"
        )
    return path


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOSTNAME.fullmatch(host)) and not host.startswith("-")
