"""User accounts. Passwords arrive already hashed; this module never sees a clear password."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.common.names import validate_username
from services.common.roles import validate_role
from services.common.timestamps import now_us
from services.state import events
from services.state.models import USER_COLUMNS, User

DEFAULT_PAGE = 50
MAX_PAGE = 1000


def get_user(*, session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"user {username!r} does not exist")
    return user


def count_users(*, session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def create_user(*, session: Session, username: str, password_hash: str, role: str, actor: str) -> User:
    validate_username(username)
    validate_role(role)
    if not password_hash.startswith("$argon2"):
        raise InvalidArgument("password_hash must be an argon2 hash")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AlreadyExists(f"user {username!r} already exists")
    now = now_us()
    user = User(
        id=uuid.uuid4().hex,
        username=username,
        password_hash=password_hash,
        role=role,
        disabled=False,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    events.emit(session=session, type="user_created", subject=username, actor=actor, payload={"role": role})
    return user


def _encode_cursor(username: str) -> str:
    return base64.urlsafe_b64encode(username.encode()).decode()


_CURSOR = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


def _decode_cursor(token: str) -> str:
    if not _CURSOR.fullmatch(token):
        raise InvalidArgument("page_token is not valid")
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument("page_token is not valid") from exc


# Built once: constructing a select and its cache key cost more than running it (0.2 ms a call).
_PAGE = select(*USER_COLUMNS).order_by(User.username).limit(bindparam("limit"))
_PAGE_AFTER = _PAGE.where(User.username > bindparam("after"))


def list_users(*, session: Session, page_size: int, page_token: str) -> tuple[list[Any], str]:
    """A page of users as plain rows (no ORM objects: lists are the hot read path), read on the
    session's connection (the ORM's execution layer adds nothing to a select of columns)."""
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative")
    size = DEFAULT_PAGE if page_size == 0 else min(page_size, MAX_PAGE)
    connection = session.connection()
    if page_token:
        found = connection.execute(_PAGE_AFTER, {"limit": size + 1, "after": _decode_cursor(page_token)})
    else:
        found = connection.execute(_PAGE, {"limit": size + 1})
    users = list(found.all())
    if len(users) > size:
        return users[:size], _encode_cursor(users[size - 1].username)
    return users, ""


def _other_enabled_admins(session: Session, user: User) -> int:
    query = (
        select(func.count())
        .select_from(User)
        .where(User.role == "admin", User.disabled.is_(False), User.id != user.id)
    )
    return session.scalar(query) or 0


def _guard_last_admin(session: Session, user: User, what: str) -> None:
    if user.role == "admin" and not user.disabled and _other_enabled_admins(session, user) == 0:
        raise FailedPrecondition(f"cannot {what} the last enabled admin")


def update_user(
    *,
    session: Session,
    username: str,
    role: str | None,
    password_hash: str | None,
    disabled: bool | None,
    actor: str,
) -> User:
    user = get_user(session=session, username=username)
    changed: dict[str, object] = {}
    if role is not None and role != user.role:
        validate_role(role)
        _guard_last_admin(session, user, "demote")
        user.role = role
        changed["role"] = role
    if disabled is not None and disabled != user.disabled:
        if disabled:
            _guard_last_admin(session, user, "disable")
        user.disabled = disabled
        changed["disabled"] = disabled
    if password_hash is not None:
        if not password_hash.startswith("$argon2"):
            raise InvalidArgument("password_hash must be an argon2 hash")
        user.password_hash = password_hash
        changed["password_changed"] = True
    if changed:
        user.updated_at = now_us()
        events.emit(session=session, type="user_updated", subject=username, actor=actor, payload=changed)
    return user


def delete_user(*, session: Session, username: str, actor: str) -> User:
    user = get_user(session=session, username=username)
    _guard_last_admin(session, user, "delete")
    session.delete(user)
    events.emit(session=session, type="user_deleted", subject=username, actor=actor, payload={})
    return user
