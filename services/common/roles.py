"""Roles, from least to most powerful. A caller may do what its role or any lower one may."""

from __future__ import annotations

from services.common.errors import InvalidArgument

ROLES: tuple[str, ...] = ("viewer", "operator", "admin")


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidArgument(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    return role


def role_allows(actual: str, required: str) -> bool:
    """True when `actual` is at least `required`. Unknown roles allow nothing."""
    if actual not in ROLES or required not in ROLES:
        return False
    return ROLES.index(actual) >= ROLES.index(required)
