"""Two-factor authentication of a user: the TOTP secret, the last accepted time step (a code works
once), recovery codes (SHA-256, each used once). Events say what changed, never a secret or a code."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common import totp
from services.common.errors import FailedPrecondition, InvalidArgument, Unauthenticated
from services.common.timestamps import now_us
from services.state import events
from services.state.models import RecoveryCode, User
from services.state.users import get_user

WRONG_CODE = (
    "the two-factor code is wrong, expired or already used: wait for the next code from your "
    "authenticator app and enter it"
)
WRONG_RECOVERY_CODE = "the recovery code is wrong or already used"


def begin(*, session: Session, username: str, secret: str) -> User:
    """Keep `secret` as the one being set up (a quiet write: nothing is on until `confirm`)."""
    user = get_user(session=session, username=username)
    if user.totp_enabled:
        raise FailedPrecondition("two-factor authentication is already on; turn it off first")
    if not 16 <= len(secret) <= 64 or not secret.isalnum():
        raise InvalidArgument("secret must be base32")
    user.totp_pending_secret = secret
    return user


def confirm(*, session: Session, username: str, code: str, recovery_hashes: list[str], actor: str) -> User:
    """A code for the pending secret turns 2FA on, with these recovery codes."""
    user = get_user(session=session, username=username)
    if user.totp_enabled:
        raise FailedPrecondition("two-factor authentication is already on")
    if user.totp_pending_secret is None:
        raise FailedPrecondition("no two-factor setup is in progress: begin it first")
    if not recovery_hashes or any(len(h) != 64 for h in recovery_hashes):
        raise InvalidArgument("recovery_code_hashes must be hex SHA-256 digests")
    step = totp.matching_step(user.totp_pending_secret, code, after_step=0)
    if step is None:
        raise InvalidArgument(f"{WRONG_CODE}: check the phone's clock and enter the current code")
    user.totp_secret, user.totp_pending_secret, user.totp_last_step = user.totp_pending_secret, None, step
    user.recovery_codes = [RecoveryCode(code_hash=h) for h in recovery_hashes]
    events.emit(
        session=session,
        type="totp_enabled",
        subject=username,
        actor=actor,
        payload={"recovery_codes": len(recovery_hashes)},
    )
    return user


def _unused_codes(session: Session, user: User) -> list[RecoveryCode]:
    query = select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    return list(session.scalars(query))


def verify(*, session: Session, username: str, totp_code: str, recovery_hash: str) -> tuple[bool, str, int]:
    """(2FA is on, the factor accepted or "" when none was sent, recovery codes left). A wrong,
    expired or replayed code raises Unauthenticated; an accepted one is used up."""
    user = get_user(session=session, username=username)
    if user.totp_secret is None:
        return False, "", 0
    unused = _unused_codes(session, user)
    if totp_code:
        step = totp.matching_step(user.totp_secret, totp_code, after_step=user.totp_last_step)
        if step is None:
            raise Unauthenticated(WRONG_CODE)
        user.totp_last_step = step
        return True, "totp", len(unused)
    if recovery_hash:
        match = next((c for c in unused if c.code_hash == recovery_hash), None)
        if match is None:
            raise Unauthenticated(WRONG_RECOVERY_CODE)
        match.used_at = now_us()
        events.emit(
            session=session,
            type="totp_recovery_code_used",
            subject=username,
            actor=username,
            payload={"left": len(unused) - 1},
        )
        return True, "recovery_code", len(unused) - 1
    return True, "", len(unused)


def disable(*, session: Session, username: str, actor: str, reason: str) -> User:
    """2FA off: the secret, any pending one and the recovery codes are gone."""
    user = get_user(session=session, username=username)
    was_on = user.totp_enabled
    user.totp_secret = user.totp_pending_secret = None
    user.totp_last_step = 0
    user.recovery_codes = []
    if was_on:
        kind = "totp_reset" if reason == "reset" else "totp_disabled"
        events.emit(session=session, type=kind, subject=username, actor=actor, payload={})
    return user
