"""Image references read the way Docker reads them, by an allow-list grammar that refuses the rest.

    nginx                         → registry-1.docker.io  library/nginx      tag latest
    ghcr.io/a/b:1.2               → ghcr.io               a/b                tag 1.2
    127.0.0.1:5000/web:1.0.0      → 127.0.0.1:5000        web                tag 1.0.0
    name@sha256:…                 → registry-1.docker.io  library/name       no tag, the digest
    name:tag@sha256:…             → registry-1.docker.io  library/name       the tag and the digest

The first path component names a registry when it has a `.` or a `:`, is `localhost`, or is an
IPv6 address in brackets (distribution's `reference.ParseNormalizedNamed`); otherwise the image is
on Docker Hub, whose API host is `registry-1.docker.io` and whose one-word names live under
`library/`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from services.common.errors import InvalidArgument

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_HUB_ALIASES = frozenset({DOCKER_HUB, "index.docker.io", DOCKER_HUB_API})
DEFAULT_TAG = "latest"
_MAX_NAME = 255

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])"
_DOMAIN = re.compile(rf"{_HOST}(?::[0-9]{{1,5}})?")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")


class InvalidReference(InvalidArgument):
    """An image reference Docker would not accept (or one we refuse to guess about)."""


@dataclass(frozen=True)
class ImageRef:
    """One image reference, split. `domain` is the registry as written (`docker.io` for Docker Hub),
    `registry` the host the v2 API answers on; `tag` is None only for a reference by digest alone."""

    domain: str
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """The image's name without tag or digest, as a person writes it (`nginx`, `ghcr.io/a/b`)."""
        if self.domain == DOCKER_HUB:
            return self.repository.removeprefix("library/")
        return f"{self.domain}/{self.repository}"

    @property
    def manifest_reference(self) -> str:
        """What to ask the registry's manifest endpoint for: the tag, else the digest."""
        reference = self.tag or self.digest
        assert reference is not None  # parse_reference gives one or the other
        return reference

    def with_tag(self, tag: str) -> ImageRef:
        """The same repository at another tag (no digest)."""
        if not _TAG.fullmatch(tag):
            raise InvalidReference(f"invalid tag {tag!r}")
        return ImageRef(self.domain, self.registry, self.repository, tag, None)

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageRef:
    """Split `text` as Docker would; anything outside the grammar raises InvalidReference."""
    if not text or len(text) > 2 * _MAX_NAME or text != text.strip():
        raise InvalidReference(f"invalid image reference {text!r}")
    remainder, digest = _split_digest(text)
    name, tag = _split_tag(remainder)
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    domain, path = _split_domain(name)
    if len(name) > _MAX_NAME:
        raise InvalidReference(f"invalid image reference {text!r}: the name is longer than {_MAX_NAME}")
    for component in path.split("/"):
        if not _PATH_COMPONENT.fullmatch(component):
            raise InvalidReference(
                f"invalid image reference {text!r}: {component!r} is not a valid repository name part "
                "(lowercase letters, digits and . _ - between them)"
            )
    if domain in _HUB_ALIASES:
        domain = DOCKER_HUB
        if "/" not in path:
            path = f"library/{path}"
    registry = DOCKER_HUB_API if domain == DOCKER_HUB else domain
    return ImageRef(domain=domain, registry=registry, repository=path, tag=tag, digest=digest)


def is_digest(text: str) -> bool:
    """Whether `text` is a content digest this grammar accepts (`sha256:<64 hex>`, `sha512:<128 hex>`)."""
    return _DIGEST.fullmatch(text) is not None


def is_loopback_host(registry: str) -> bool:
    """Whether a registry host (with or without a port) is this machine: 127.0.0.0/8, ::1 or
    localhost. The only hosts AppOS may speak plain HTTP to."""
    host = _host_of(registry)
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_of(registry: str) -> str:
    if registry.startswith("["):
        return registry[1:].split("]", 1)[0]
    return registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry


def _split_digest(text: str) -> tuple[str, str | None]:
    if "@" not in text:
        return text, None
    remainder, digest = text.split("@", 1)
    if not _DIGEST.fullmatch(digest):
        raise InvalidReference(
            f"invalid image reference {text!r}: the digest must be sha256:<64 hex> or sha512:<128 hex>"
        )
    return remainder, digest


def _split_tag(text: str) -> tuple[str, str | None]:
    last_slash = text.rfind("/")
    colon = text.rfind(":")
    if colon <= last_slash:  # no colon, or only the registry's port
        return text, None
    name, tag = text[:colon], text[colon + 1 :]
    if not _TAG.fullmatch(tag):
        raise InvalidReference(
            f"invalid image reference {text!r}: {tag!r} is not a valid tag "
            "(letters, digits, _ . -, at most 128, not starting with . or -)"
        )
    return name, tag


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    is_domain = bool(sep) and ("." in first or ":" in first or first == "localhost" or first.startswith("["))
    if not is_domain:
        return DOCKER_HUB, name
    if not _DOMAIN.fullmatch(first):
        raise InvalidReference(f"invalid image reference {name!r}: {first!r} is not a valid registry host")
    if first.startswith("["):
        try:
            ipaddress.IPv6Address(_host_of(first))
        except ValueError as exc:
            raise InvalidReference(
                f"invalid image reference {name!r}: {first!r} is not an IPv6 address"
            ) from exc
    return first, rest
