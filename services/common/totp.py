"""Two-factor codes: TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, as authenticator apps
use them) and one-time recovery codes. Pure functions; state keeps the secrets and the last used step.

A code is accepted for the current step or one step either side (clock drift), and only for a step
after the last one accepted for that user: a code is never accepted twice, nor an older one after it.
Recovery codes are random (50 bits), so a plain SHA-256 stores them safely, as for API tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import pyotp

ISSUER = "AppOS"
STEP_SECONDS = 30
DRIFT_STEPS = 1
DIGITS = 6
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def new_secret() -> str:
    """A random 160-bit secret, base32 (what authenticator apps take)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=ISSUER
    )


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def normalize_code(code: str) -> str:
    """What a person typed, without spaces ("123 456")."""
    return "".join(code.split())


def matching_step(secret: str, code: str, *, after_step: int, now: float | None = None) -> int | None:
    """The time step `code` belongs to, within the drift window and after `after_step`; None when it
    matches none (wrong, too old, or already used)."""
    code = normalize_code(code)
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    step = current_step(now)
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if candidate > after_step and hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Codes like `k7mq2-x9fpa`: 10 characters of 31, about 50 bits each."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def hash_recovery_code(code: str) -> str:
    """SHA-256 of the code as typed any way: case, spaces and dashes do not matter."""
    canonical = "".join(c for c in code.lower() if c.isalnum())
    return hashlib.sha256(canonical.encode()).hexdigest()
