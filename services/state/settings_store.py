"""Platform settings: one JSON value per dotted key, in the `settings` table.

Two kinds of writer: `put_settings` for settings people change (`backup.retention`,
`backup.volumes.<app>`), which appends a `settings_changed` event, and `put_setting` for a
service's own bookkeeping (a consumer's cursor, a delivery record), which appends none — an event
there would feed the very stream such a cursor follows.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.common.errors import InvalidArgument, NotFound
from services.common.timestamps import now_us
from services.state import events
from services.state.models import Setting

_KEY = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,127}$")
MAX_VALUE = 64 * 1024


def validate_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise InvalidArgument(
            f"setting key {key[:130]!r}: use 1-128 lowercase letters, digits, '.', '_', ':' or '-'"
        )
    return key


def _checked_json(key: str, value_json: str) -> Any:
    if len(value_json) > MAX_VALUE:
        raise InvalidArgument(f"setting {key} is longer than {MAX_VALUE} bytes")
    try:
        return json.loads(value_json)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"setting {key} must be JSON: {exc.msg}") from exc


def _store(session: Session, key: str, text: str, now: int) -> Setting:
    row = session.get(Setting, key)
    if row is None:
        row = Setting(key=key, value_json=text, updated_at=now)
        session.add(row)
    else:
        row.value_json, row.updated_at = text, now
    return row


def get_setting(*, session: Session, key: str) -> Setting:
    row = session.get(Setting, validate_key(key))
    if row is None:
        raise NotFound(f"setting {key!r} is not set")
    return row


def get_value(*, session: Session, key: str, default: Any = None) -> Any:
    row = session.get(Setting, validate_key(key))
    return default if row is None else json.loads(row.value_json)


def put_setting(*, session: Session, key: str, value_json: str) -> Setting:
    """Bookkeeping: set one key (normalised JSON), appending no event."""
    value = _checked_json(validate_key(key), value_json)
    return _store(session, key, json.dumps(value, sort_keys=True, separators=(",", ":")), now_us())


def delete_setting(*, session: Session, key: str) -> None:
    session.execute(delete(Setting).where(Setting.key == validate_key(key)))


def get_settings(*, session: Session, prefix: str) -> dict[str, str]:
    rows = session.scalars(select(Setting).where(Setting.key.startswith(prefix, autoescape=True)))
    return {row.key: row.value_json for row in rows}


def put_settings(*, session: Session, values: dict[str, str], actor: str) -> dict[str, str]:
    """Set each key to its JSON text, or delete it when the text is empty. One event per call."""
    for key, value in values.items():
        validate_key(key)
        if value:
            _checked_json(key, value)
    now = now_us()
    for key, value in values.items():
        if value:
            _store(session, key, value, now)
        elif (row := session.get(Setting, key)) is not None:
            session.delete(row)
    if values:
        events.emit(
            session=session,
            type="settings_changed",
            subject=",".join(sorted(values))[:256],
            actor=actor,
            payload={"keys": sorted(values)},
        )
    return {key: value for key, value in values.items() if value}
