"""First start: create the first admin, from APPOS_ADMIN_PASSWORD or a generated password."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from services.common.passwords import hash_password
from services.common.secretfiles import write_secret_file
from services.state import users
from services.state.store import Store

logger = logging.getLogger(__name__)

ADMIN_USERNAME = "admin"


def ensure_first_admin(*, store: Store, password: str | None, password_file: Path) -> None:
    with store.write() as session:
        if users.count_users(session=session) > 0:
            return
        if password is None:
            password = secrets.token_urlsafe(18)
            write_secret_file(password_file, password + "\n")
            logger.info("created user %r; its generated password is in %s", ADMIN_USERNAME, password_file)
        else:
            logger.info("created user %r with the password from APPOS_ADMIN_PASSWORD", ADMIN_USERNAME)
        users.create_user(
            session=session,
            username=ADMIN_USERNAME,
            password_hash=hash_password(password),
            role="admin",
            actor="system",
        )
