"""The audit log: who did what to which target, with what result, from where.

A change made for a caller is recorded here in the change's own transaction: the gateway sends the
caller and the audited action as `x-appos-*` metadata, every service passes it on (see
`services.common.clients.origin_var`), and the first event a write appends (`events.emit`) adds one
entry; later events of that transaction only add their type to its message. Entries never hold
secrets: the message of a change lists event types, the message of a failure is the error message.

A call is recorded once however many writes it makes: the gateway gives each audited call a nonce
(`x-appos-call`); `RecentCalls` remembers the nonces whose entry committed, and a later write of the
same call (or the gateway's own `AppendAudit(if_absent)` after it answered) adds nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from appos.v1 import audit_pb2
from services.common.clients import origin_var
from services.common.errors import InvalidArgument
from services.common.logs import request_id_var
from services.common.timestamps import now_us, set_ts
from services.state.models import AuditEntry, Event

DEFAULT_PAGE = 100
MAX_PAGE = 500
# session.info keys: the entry this transaction is writing, and the store's RecentCalls.
_ENTRY = "audit_entry"
RECENT_CALLS = "audit_recent_calls"
_CALLS = "audit_calls"
_NONE = object()  # this transaction's call was recorded already: nothing to add

_LIMITS = {"actor": 64, "role": 16, "action": 128, "target": 256, "app": 64, "result": 32, "client": 128}
_MESSAGE_LIMIT = 2000


class RecentCalls:
    """Nonces of calls whose entry committed (bounded; a restart forgets them, which at worst
    records a call that spans it twice)."""

    def __init__(self, size: int = 20_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def __contains__(self, call: object) -> bool:
        with self._lock:
            return call in self._seen

    def add(self, call: str) -> None:
        with self._lock:
            self._seen[call] = None
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)


def _clip(values: dict[str, Any]) -> dict[str, Any]:
    for key, limit in _LIMITS.items():
        if key in values:
            values[key] = str(values[key])[:limit]
    if "message" in values:
        values["message"] = str(values["message"])[:_MESSAGE_LIMIT]
    return values


def _app_of(event: Event, payload: dict[str, Any]) -> str:
    app = payload.get("app")
    if isinstance(app, str):
        return app
    if event.type.startswith(("app_", "version_")):
        return event.subject
    return ""


def note_event(*, session: Session, event: Event, payload: dict[str, Any]) -> None:
    """Called for every event a write appends: records the caller's audited action, once per call."""
    origin = dict(origin_var.get())
    action = origin.get("x-appos-action")
    if not action:
        return  # background work (watchers, the worker, reconcilers): the event log has it
    entry = session.info.get(_ENTRY)
    if entry is _NONE:
        return
    if entry is None:
        call = origin.get("x-appos-call", "")
        recent = session.info.get(RECENT_CALLS)
        if call and recent is not None and call in recent:
            session.info[_ENTRY] = _NONE
            return
        entry = AuditEntry(
            **_clip(
                {
                    "created_at": now_us(),
                    "actor": origin.get("x-appos-user") or event.actor,
                    "role": origin.get("x-appos-role", ""),
                    "action": action,
                    "target": origin.get("x-appos-target") or event.subject,
                    "app": origin.get("x-appos-app") or _app_of(event, payload),
                    "result": "ok",
                    "message": event.type,
                    "client": origin.get("x-appos-client", ""),
                    "request_id": request_id_var.get(),
                }
            )
        )
        session.add(entry)
        session.info[_ENTRY] = entry
        if call:
            session.info.setdefault(_CALLS, []).append(call)
        return
    assert isinstance(entry, AuditEntry)
    if event.type not in entry.message.split(" "):
        entry.message = (entry.message + " " + event.type)[:_MESSAGE_LIMIT]
    if not entry.app:
        entry.app = _app_of(event, payload)[: _LIMITS["app"]]


def committed_calls(session: Session) -> list[str]:
    """The call nonces this transaction recorded (for the store to remember after the commit)."""
    calls: list[str] = session.info.get(_CALLS, [])
    return calls


def append(*, session: Session, entry: audit_pb2.AuditEntry, call: str, recent: RecentCalls) -> int:
    """An entry from the gateway (a refused or failed call, or a change outside the database);
    with `call`, nothing when that call was recorded already. Returns the id, or 0."""
    if not entry.action or not entry.result:
        raise InvalidArgument("an audit entry needs an action and a result")
    if call and call in recent:
        return 0
    row = AuditEntry(
        **_clip(
            {
                "created_at": now_us(),
                "actor": entry.actor or "-",
                "role": entry.role,
                "action": entry.action,
                "target": entry.target,
                "app": entry.app,
                "result": entry.result,
                "message": entry.message,
                "client": entry.client,
                "request_id": entry.request_id or request_id_var.get(),
            }
        )
    )
    session.add(row)
    session.flush()
    if call:
        session.info.setdefault(_CALLS, []).append(call)
    return row.id


def to_pb(row: AuditEntry) -> audit_pb2.AuditEntry:
    pb = audit_pb2.AuditEntry(
        id=row.id, actor=row.actor, role=row.role, action=row.action, target=row.target, app=row.app,
        result=row.result, message=row.message, client=row.client, request_id=row.request_id,
    )  # fmt: skip
    set_ts(pb.time, row.created_at)
    return pb


# The console shows actions without the package ("Apps.Rollback"): a filter finds what it shows.
_PACKAGE = "appos.v1."


def _action_matches(action: str) -> ColumnElement[bool]:
    """The action exactly or as a dotted prefix, with or without the package name."""
    names = [action] if action.startswith(_PACKAGE) else [action, _PACKAGE + action]
    clauses: list[ColumnElement[bool]] = []
    for name in names:
        prefix = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ".%"
        clauses += [AuditEntry.action == name, AuditEntry.action.like(prefix, escape="\\")]
    return or_(*clauses)


def list_entries(
    *,
    session: Session,
    user: str,
    app: str,
    action: str,
    since_us: int,
    until_us: int,
    page_size: int,
    page_token: str,
) -> tuple[list[AuditEntry], str]:
    """Newest first; the page token is the id of the last entry seen."""
    if page_size < 0 or page_size > MAX_PAGE:
        raise InvalidArgument(f"page_size must be between 1 and {MAX_PAGE}")
    size = page_size or DEFAULT_PAGE
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(size + 1)
    if page_token:
        if not page_token.isdigit() or len(page_token) > 18:
            raise InvalidArgument("page_token is not valid")
        query = query.where(AuditEntry.id < int(page_token))
    if user:
        query = query.where(AuditEntry.actor == user)
    if app:
        query = query.where(AuditEntry.app == app)
    if action:
        query = query.where(_action_matches(action))
    if since_us:
        query = query.where(AuditEntry.created_at >= since_us)
    if until_us:
        query = query.where(AuditEntry.created_at < until_us)
    rows = list(session.scalars(query))
    if len(rows) > size:
        return rows[:size], str(rows[size - 1].id)
    return rows, ""
