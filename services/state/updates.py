"""The last update check's findings (issue 19): each checked app's rows are replaced as a whole,
and the check's end is one transaction with its events:

    per app: old findings → delete → insert the new ones → `update_available` when some are new
    then `updates_checked` with the counts (apps, updates, unknown, new)

A finding is new when the app's previous check had no finding of the same service, kind, tag and
digest (a check that finds the same again notifies nobody)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from appos.v1 import state_pb2
from services.common.errors import InvalidArgument, NotFound
from services.common.timestamps import now_us
from services.state import events
from services.state.models import App, ImageUpdateRow, TemplateUpdateRow

KINDS = ("digest", "patch", "minor", "major", "unknown")
UPDATE_AVAILABLE = "update_available"
UPDATES_CHECKED = "updates_checked"
_MAX_FINDINGS = 1000  # per app: far above what a compose file's services give


@dataclass(frozen=True)
class Counts:
    apps: int
    updates: int
    unknown: int
    new_updates: int
    seq: int


def _key(row: ImageUpdateRow) -> tuple[str, str, str, str]:
    return (row.service, row.kind, row.candidate_tag, row.candidate_digest)


def _rows(app: str, check: state_pb2.StateAppUpdateCheck, checked_at: int) -> list[ImageUpdateRow]:
    if len(check.updates) > _MAX_FINDINGS:
        raise InvalidArgument(f"app {app}: more than {_MAX_FINDINGS} findings in one check")
    rows = []
    for found in check.updates:
        if found.kind not in KINDS:
            raise InvalidArgument(f"app {app}: unknown update kind {found.kind[:20]!r}")
        if not found.service:
            raise InvalidArgument(f"app {app}: a finding without a service")
        rows.append(
            ImageUpdateRow(
                app=app,
                service=found.service,
                image=found.image,
                current_tag=found.current_tag,
                current_digest=found.current_digest,
                candidate_tag=found.candidate_tag,
                candidate_digest=found.candidate_digest,
                kind=found.kind,
                reason=found.reason,
                checked_at=checked_at,
            )  # fmt: skip
        )
    return rows


def record_check(
    *, session: Session, checks: Sequence[state_pb2.StateAppUpdateCheck], actor: str, origin: str,
    job: str = "",
) -> Counts:  # fmt: skip
    """Replace each checked app's findings (an app removed meanwhile is skipped, and the rows of
    removed apps are dropped), then append the events (`job`: the check's id, for who waits on it)."""
    checked_at = now_us()
    existing = set(session.scalars(select(App.name)))
    session.execute(delete(ImageUpdateRow).where(ImageUpdateRow.app.not_in(existing)))
    apps = updates = unknown = new_updates = 0
    for check in checks:
        if check.app not in existing:
            continue
        rows = _rows(check.app, check, checked_at)
        before = {
            _key(row)
            for row in session.scalars(select(ImageUpdateRow).where(ImageUpdateRow.app == check.app))
        }
        session.execute(delete(ImageUpdateRow).where(ImageUpdateRow.app == check.app))
        session.add_all(rows)
        apps += 1
        found = [row for row in rows if row.kind != "unknown"]
        new = [row for row in found if _key(row) not in before]
        updates += len(found)
        unknown += len(rows) - len(found)
        new_updates += len(new)
        if new:
            listed = ", ".join(
                f"{row.service} {row.current_tag} → {row.candidate_tag} ({row.kind})" for row in new
            )
            events.emit(
                session=session, type=UPDATE_AVAILABLE, subject=check.app, actor=actor,
                payload={
                    "app": check.app,
                    "message": f"{check.app}: {listed}",
                    "updates": [
                        {"service": row.service, "image": row.image, "kind": row.kind,
                         "current_tag": row.current_tag, "candidate_tag": row.candidate_tag,
                         "candidate_digest": row.candidate_digest}
                        for row in new
                    ],
                },
            )  # fmt: skip
    event = events.emit(
        session=session, type=UPDATES_CHECKED, subject="updates", actor=actor,
        payload={"apps": apps, "updates": updates, "unknown": unknown, "new": new_updates, "origin": origin,
                 "job": job},
    )  # fmt: skip
    return Counts(apps=apps, updates=updates, unknown=unknown, new_updates=new_updates, seq=event.seq)


def list_findings(*, session: Session, app: str) -> list[ImageUpdateRow | TemplateUpdateRow]:
    """The last check's findings of `app` (NotFound when it does not exist), or of every app, each
    app's changed store template (if any) first."""
    query = select(ImageUpdateRow).join(App, App.name == ImageUpdateRow.app)
    templates = select(TemplateUpdateRow).join(App, App.name == TemplateUpdateRow.app)
    if app:
        if session.get(App, app) is None:
            raise NotFound(f"app {app!r} does not exist")
        query = query.where(ImageUpdateRow.app == app)
        templates = templates.where(TemplateUpdateRow.app == app)
    found: list[ImageUpdateRow | TemplateUpdateRow] = [
        *session.scalars(templates),
        *session.scalars(query.order_by(ImageUpdateRow.app, ImageUpdateRow.service, ImageUpdateRow.id)),
    ]
    return sorted(found, key=lambda row: row.app)  # stable: each app's template row, then its images


MAX_DIFF = 64 * 1024


def record_template_changes(
    *, session: Session, changes: Sequence[state_pb2.StateTemplateChange], actor: str
) -> int:
    """Each app made from a changed template gets that change as its `template` finding (replacing
    an older one) and an `update_available` event. Returns how many apps."""
    diffs = {}
    for change in changes:
        if "/" not in change.template or len(change.template) > 160:
            raise InvalidArgument(f"not a store template: {change.template[:40]!r}")
        diffs[change.template] = change.diff[:MAX_DIFF]
    if not diffs:
        return 0
    found_at = now_us()
    apps = list(session.scalars(select(App).where(App.template.in_(diffs))))
    for app in apps:
        session.execute(delete(TemplateUpdateRow).where(TemplateUpdateRow.app == app.name))
        session.add(
            TemplateUpdateRow(
                app=app.name, template=app.template, diff=diffs[app.template], found_at=found_at
            )
        )
        events.emit(
            session=session, type=UPDATE_AVAILABLE, subject=app.name, actor=actor,
            payload={
                "app": app.name,
                "message": f"{app.name}: its store template {app.template} changed",
                "updates": [{"service": "", "image": app.template, "kind": "template"}],
            },
        )  # fmt: skip
    return len(apps)
