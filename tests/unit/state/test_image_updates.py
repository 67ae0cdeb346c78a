"""The last update check's findings in state (real SQLite): each app's rows replaced by a check,
`update_available` only for what is new, `updates_checked` with the counts, reads of one app or
all, and the findings of a removed app gone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from appos.v1 import state_pb2, updates_pb2
from services.common.errors import InvalidArgument, NotFound
from services.state import apps, updates
from services.state.db import make_engine, migrate
from services.state.models import Event
from services.state.store import Store

DIGEST = {
    tag: "sha256:" + c * 64 for tag, c in (("1.0.0", "a"), ("1.0.1", "b"), ("1.1.0", "c"), ("2.0.0", "d"))
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    engine = make_engine(tmp_path / "appos.db")
    migrate(engine)
    store = Store(engine)
    with store.write() as s:
        for name in ("blog", "shop"):
            apps.create_app(
                session=s, name=name, template="", compose="services: {}\n", env="", web_service="",
                web_port=0, actor="alice",
            )  # fmt: skip
    yield store
    engine.dispose()


def _found(service: str, kind: str, tag: str = "", reason: str = "") -> updates_pb2.ImageUpdate:
    return updates_pb2.ImageUpdate(
        service=service, image=f"registry.test/{service}:1.0.0", current_tag="1.0.0",
        current_digest=DIGEST["1.0.0"], candidate_tag=tag, candidate_digest=DIGEST.get(tag, ""),
        kind=kind, reason=reason,
    )  # fmt: skip


def _record(store: Store, **checks: list[updates_pb2.ImageUpdate]) -> updates.Counts:
    with store.write() as s:
        return updates.record_check(
            session=s,
            checks=[state_pb2.StateAppUpdateCheck(app=app, updates=found) for app, found in checks.items()],
            actor="scheduler",
            origin="schedule",
            job="job-1",
        )


def _events(store: Store, after: int = 0) -> list[tuple[str, str, dict[str, Any]]]:
    with store.read() as s:
        rows = s.scalars(select(Event).where(Event.seq > after).order_by(Event.seq))
        return [
            (e.type, e.subject, json.loads(e.payload_json))
            for e in rows
            if e.type in (updates.UPDATE_AVAILABLE, updates.UPDATES_CHECKED)
        ]


def _listed(store: Store, app: str = "") -> list[tuple[str, str, str, str]]:
    with store.read() as s:
        found = [r.to_pb() for r in updates.list_findings(session=s, app=app)]
        return [(u.app, u.service, u.kind, u.candidate_tag) for u in found]


def test_a_check_stores_findings_and_says_what_is_new(store: Store) -> None:
    counts = _record(
        store,
        blog=[
            _found("web", "patch", "1.0.1"),
            _found("web", "minor", "1.1.0"),
            _found("web", "major", "2.0.0"),
        ],
        shop=[_found("api", "unknown", reason="cannot reach the registry registry.test")],
    )
    assert (counts.apps, counts.updates, counts.unknown, counts.new_updates) == (2, 3, 1, 3)
    assert _listed(store) == [
        ("blog", "web", "patch", "1.0.1"),
        ("blog", "web", "minor", "1.1.0"),
        ("blog", "web", "major", "2.0.0"),
        ("shop", "api", "unknown", ""),
    ]
    with store.read() as s:
        pb = updates.list_findings(session=s, app="shop")[0].to_pb()
    assert pb.reason == "cannot reach the registry registry.test"
    assert pb.checked_at.seconds > 0
    found = _events(store)
    assert [(kind, subject) for kind, subject, _ in found] == [
        ("update_available", "blog"),
        ("updates_checked", "updates"),
    ]
    available = found[0][2]
    assert [u["candidate_tag"] for u in available["updates"]] == ["1.0.1", "1.1.0", "2.0.0"]
    assert found[1][2] == {
        "apps": 2, "updates": 3, "unknown": 1, "new": 3, "origin": "schedule", "job": "job-1"
    }  # fmt: skip
    assert found[1][0] == "updates_checked" and counts.seq > 0


def test_a_new_check_replaces_an_apps_rows_and_notifies_only_new_findings(store: Store) -> None:
    first = _record(store, blog=[_found("web", "patch", "1.0.1")], shop=[_found("api", "minor", "1.1.0")])
    # blog: the same patch again plus a new minor; shop not checked this time: its rows stay
    second = _record(store, blog=[_found("web", "patch", "1.0.1"), _found("web", "minor", "1.1.0")])
    assert second.new_updates == 1
    assert _listed(store, "blog") == [("blog", "web", "patch", "1.0.1"), ("blog", "web", "minor", "1.1.0")]
    assert _listed(store, "shop") == [("shop", "api", "minor", "1.1.0")]
    later = _events(store, after=first.seq)
    assert [(kind, subject) for kind, subject, _ in later] == [
        ("update_available", "blog"),
        ("updates_checked", "updates"),
    ]
    assert [u["candidate_tag"] for u in later[0][2]["updates"]] == ["1.1.0"]
    # nothing found any more: the app's rows are gone, no update_available
    third = _record(store, blog=[])
    assert _listed(store, "blog") == []
    assert [kind for kind, _, _ in _events(store, after=second.seq)] == ["updates_checked"]
    assert third.new_updates == 0


def test_removed_apps_lose_their_findings_and_unknown_apps_are_refused(store: Store) -> None:
    _record(store, blog=[_found("web", "patch", "1.0.1")], shop=[_found("api", "patch", "1.0.1")])
    with store.write() as s:
        apps.delete_app(session=s, name="blog", actor="alice")
    assert _listed(store) == [("shop", "api", "patch", "1.0.1")]
    # a check that still names the removed app skips it
    counts = _record(store, blog=[_found("web", "patch", "1.0.1")], shop=[_found("api", "patch", "1.0.1")])
    assert counts.apps == 1
    with store.read() as s, pytest.raises(NotFound, match="blog"):
        updates.list_findings(session=s, app="blog")


def test_a_finding_of_an_unknown_kind_is_refused(store: Store) -> None:
    with pytest.raises(InvalidArgument, match="unknown update kind"):
        _record(store, blog=[_found("web", "newer", "1.0.1")])
    assert _listed(store) == []


def test_a_changed_store_template_is_an_update_of_the_apps_made_from_it(store: Store) -> None:
    with store.write() as s:
        apps.create_app(
            session=s, name="casa1", template="casa/hello", compose="services: {}\n", env="", web_service="",
            web_port=0, actor="alice",
        )  # fmt: skip
    change = state_pb2.StateTemplateChange(template="casa/hello", diff="-echo one\n+echo two\n")
    with store.write() as s:
        assert updates.record_template_changes(session=s, changes=[change], actor="system") == 1
        # a second change of the same template replaces the first: one row per app
        again = state_pb2.StateTemplateChange(template="casa/hello", diff="-echo two\n+echo three\n")
        assert updates.record_template_changes(session=s, changes=[again, change], actor="system") == 1
        assert updates.record_template_changes(session=s, changes=[], actor="system") == 0
    with store.read() as s:
        found = [r.to_pb() for r in updates.list_findings(session=s, app="casa1")]
        assert [(u.kind, u.image, u.service) for u in found] == [("template", "casa/hello", "")]
        assert found[0].diff == "-echo one\n+echo two\n" and "redeploying" in found[0].reason
        assert [u.app for u in (r.to_pb() for r in updates.list_findings(session=s, app=""))] == ["casa1"]
    announced = [e for e in _events(store) if e[0] == updates.UPDATE_AVAILABLE]
    assert [(subject, payload["updates"][0]["kind"]) for _, subject, payload in announced] == [
        ("casa1", "template"), ("casa1", "template"),
    ]  # fmt: skip
    with store.write() as s, pytest.raises(InvalidArgument, match="not a store template"):
        updates.record_template_changes(
            session=s, changes=[state_pb2.StateTemplateChange(template="builtin-name")], actor="system"
        )
