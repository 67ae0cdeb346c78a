"""Validation of names that may reach a path, a command or a URL."""

from __future__ import annotations

import re

from services.common.errors import InvalidArgument

_USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{1,31}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# Compose service names (compose-spec: `[a-zA-Z0-9._-]+`), kept to a DNS-ish length.
_SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def validate_username(name: str) -> str:
    if not _USERNAME.fullmatch(name):
        raise InvalidArgument(
            "username must be 2-32 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter"
        )
    return name


def validate_dns_label(name: str, *, what: str = "name") -> str:
    if not _DNS_LABEL.fullmatch(name):
        raise InvalidArgument(
            f"{what} must be a DNS label: 1-63 lowercase letters, digits or '-', "
            "not starting or ending with '-'"
        )
    return name


# Compose project names are `appos-<app>`; keep room under Docker's 63-character names.
_APP_NAME_MAX = 40


def validate_app_name(name: str) -> str:
    validate_dns_label(name, what="app name")
    if len(name) > _APP_NAME_MAX:
        raise InvalidArgument(f"app name must be at most {_APP_NAME_MAX} characters")
    return name


def validate_service_name(name: str) -> str:
    """A Compose service name, as it may reach a Docker label filter or a command line."""
    if not _SERVICE.fullmatch(name):
        raise InvalidArgument("service must be a compose service name (letters, digits, '.', '_', '-')")
    return name
