"""Servers (issue 21): the remote Docker engines AppOS reaches over SSH, each with its pinned host
key. `local` (this machine) is implied and never stored. A server apps live on cannot be removed."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.common.names import validate_dns_label
from services.common.timestamps import now_us
from services.state import events
from services.state.models import App, ServerRow

LOCAL = "local"


def _apps(session: Session) -> dict[str, int]:
    rows = session.execute(select(App.server, func.count()).group_by(App.server))
    return {str(server): int(count) for server, count in rows}


def create(
    *, session: Session, name: str, address: str, docker_socket: str, known_hosts: str, fingerprint: str,
    actor: str,
) -> ServerRow:  # fmt: skip
    validate_dns_label(name, what="server name")
    if name == LOCAL:
        raise InvalidArgument("`local` is this machine; give the server another name")
    if not address or not known_hosts or not fingerprint:
        raise InvalidArgument("a server needs its address and pinned host key (or certificate)")
    if not docker_socket and not address.startswith("tcp://"):  # a tcp:// address names the engine
        raise InvalidArgument("an ssh:// server needs its Docker socket")
    if session.get(ServerRow, name) is not None:
        raise AlreadyExists(f"a server named {name!r} already exists")
    row = ServerRow(
        name=name, address=address, docker_socket=docker_socket, known_hosts=known_hosts,
        fingerprint=fingerprint, created_at=now_us(),
    )  # fmt: skip
    session.add(row)
    events.emit(
        session=session, type="server_added", subject=name, actor=actor,
        payload={"server": name, "address": address, "fingerprint": fingerprint},
    )  # fmt: skip
    return row


def existing(*, session: Session, name: str) -> str:
    """`name` when it is `local` or a stored server, else InvalidArgument."""
    if name != LOCAL and session.get(ServerRow, name) is None:
        raise InvalidArgument(f"server {name!r} does not exist; add it first (POST /api/v1/servers)")
    return name


def list_all(*, session: Session) -> list[tuple[ServerRow, int]]:
    apps = _apps(session)
    return [
        (row, apps.get(row.name, 0)) for row in session.scalars(select(ServerRow).order_by(ServerRow.name))
    ]


def pin(
    *, session: Session, name: str, known_hosts: str, fingerprint: str, actor: str
) -> tuple[ServerRow, int]:
    row = session.get(ServerRow, name)
    if row is None:
        raise NotFound(f"server {name!r} does not exist")
    if not known_hosts or not fingerprint:
        raise InvalidArgument("a pinned host key needs its known_hosts line and fingerprint")
    before, row.known_hosts, row.fingerprint = row.fingerprint, known_hosts, fingerprint
    events.emit(
        session=session, type="server_host_key_pinned", subject=name, actor=actor,
        payload={"server": name, "before": before, "fingerprint": fingerprint},
    )  # fmt: skip
    return row, _apps(session).get(name, 0)


def delete(*, session: Session, name: str, actor: str) -> ServerRow:
    if name == LOCAL:
        raise FailedPrecondition("`local` is this machine; it cannot be removed")
    row = session.get(ServerRow, name)
    if row is None:
        raise NotFound(f"server {name!r} does not exist")
    apps = _apps(session).get(name, 0)
    if apps:
        raise FailedPrecondition(f"{apps} app(s) live on server {name!r}; remove or move them first")
    session.delete(row)
    events.emit(session=session, type="server_removed", subject=name, actor=actor, payload={"server": name})
    return row
