"""The append-only event log. Payloads are small JSON objects and never carry secrets."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.errors import InvalidArgument
from services.common.timestamps import now_us
from services.state import audit
from services.state.models import Event
from services.state.store import EMITTED, LAST_EVENT_SEQ

MAX_PAGE = 1000


def emit(*, session: Session, type: str, subject: str, actor: str, payload: dict[str, Any]) -> Event:
    """Append an event inside the caller's transaction; it is published when that commits. A write
    made for a caller's audited call records its audit entry here too (`audit.note_event`)."""
    event = Event(
        type=type,
        subject=subject,
        actor=actor or "system",
        payload_json=json.dumps(payload, sort_keys=True, separators=(",", ":")),
        created_at=now_us(),
    )
    session.add(event)
    session.flush()
    session.info[LAST_EVENT_SEQ] = event.seq
    session.info.setdefault(EMITTED, []).append(event)
    audit.note_event(session=session, event=event, payload=payload)
    return event


def append_raw(*, session: Session, type: str, subject: str, actor: str, payload_json: str) -> Event:
    """An event from another service: `payload_json` must be a JSON object."""
    if not type or len(type) > 64:
        raise InvalidArgument("event type must be 1-64 characters")
    try:
        payload = json.loads(payload_json or "{}")
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"event payload is not JSON: {exc.msg}") from exc
    if not isinstance(payload, dict):
        raise InvalidArgument("event payload must be a JSON object")
    return emit(session=session, type=type, subject=subject[:256], actor=actor, payload=payload)


def list_after(*, session: Session, after_seq: int, limit: int) -> list[Event]:
    if after_seq < 0:
        raise InvalidArgument("after_seq must not be negative")
    limit = MAX_PAGE if limit <= 0 else min(limit, MAX_PAGE)
    query = select(Event).where(Event.seq > after_seq).order_by(Event.seq).limit(limit)
    return list(session.scalars(query))
