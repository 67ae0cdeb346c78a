"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.common.errors import InvalidArgument

_hasher = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4
# A hash of a random password, verified when the user does not exist so that a failed login takes
# the same time whether or not the name is known.
_DUMMY_HASH = _hasher.hash("appos-dummy-password-for-timing")

MIN_LENGTH = 8
MAX_LENGTH = 256


def validate_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise InvalidArgument(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidArgument(f"password must be at most {MAX_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(validate_password(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches. With no hash (unknown user) it burns the same time and fails."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
