"""API tokens: stored as SHA-256 hashes of their secret, with a role, an expiry and a last use."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.errors import InvalidArgument, NotFound, Unauthenticated
from services.common.roles import role_allows, validate_role
from services.common.timestamps import MICROS, now_us
from services.state import events
from services.state.models import ApiToken, User
from services.state.users import get_user

# A token's last use is written at most this often, so that reads stay reads.
LAST_USED_RESOLUTION_US = 60 * MICROS


def create_token(
    *,
    session: Session,
    username: str,
    name: str,
    role: str,
    token_hash: str,
    prefix: str,
    expires_at: int | None,
    actor: str,
) -> ApiToken:
    user = get_user(session=session, username=username)
    validate_role(role)
    if not role_allows(user.role, role):
        raise InvalidArgument(f"a token cannot have more rights than its owner ({user.role})")
    if not name.strip() or len(name) > 64:
        raise InvalidArgument("token name must be 1-64 characters")
    if len(token_hash) != 64:
        raise InvalidArgument("token_hash must be a hex SHA-256")
    token = ApiToken(
        id=uuid.uuid4().hex,
        user=user,
        name=name.strip(),
        role=role,
        token_hash=token_hash,
        prefix=prefix[:16],
        created_at=now_us(),
        expires_at=expires_at,
    )
    session.add(token)
    events.emit(
        session=session,
        type="token_created",
        subject=token.id,
        actor=actor,
        payload={"username": username, "name": token.name, "role": role},
    )
    return token


def list_tokens(*, session: Session, username: str) -> list[ApiToken]:
    query = select(ApiToken).join(User).order_by(ApiToken.created_at)
    if username:
        query = query.where(User.username == username)
    return list(session.scalars(query))


def revoke_token(*, session: Session, token_id: str, username: str, actor: str) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or (username and token.user.username != username):
        raise NotFound(f"token {token_id!r} does not exist")
    if token.revoked_at is None:
        token.revoked_at = now_us()
        events.emit(
            session=session,
            type="token_revoked",
            subject=token.id,
            actor=actor,
            payload={"username": token.user.username, "name": token.name},
        )
    return token


def resolve_token(*, session: Session, token_hash: str) -> ApiToken:
    """The live token with this hash, or Unauthenticated (same message whatever the cause)."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))
    now = now_us()
    if (
        token is None
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
        or token.user.disabled
    ):
        raise Unauthenticated("invalid, expired or revoked token")
    return token


def needs_touch(token: ApiToken) -> bool:
    return token.last_used_at is None or now_us() - token.last_used_at >= LAST_USED_RESOLUTION_US


def touch_token(*, session: Session, token_id: str) -> None:
    """Bookkeeping only (not an event): when the token was last used."""
    token = session.get(ApiToken, token_id)
    if token is not None:
        token.last_used_at = now_us()
