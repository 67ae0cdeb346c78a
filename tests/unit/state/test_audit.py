"""The audit log in state, on a real SQLite file: a change and its entry commit or roll back
together; a call is recorded once however many writes it makes; filters and paging."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from appos.v1 import audit_pb2
from services.common.clients import origin
from services.common.errors import InvalidArgument
from services.common.logs import request_id_var
from services.state import apps, audit, deployments, stats, users
from services.state.db import make_engine, migrate
from services.state.models import AuditEntry, User
from services.state.store import Store

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    engine = make_engine(tmp_path / "appos.db")
    migrate(engine)
    yield Store(engine)
    engine.dispose()


def _origin(action: str, call: str = "", **extra: str) -> tuple[tuple[str, str], ...]:
    pairs = {
        "x-appos-user": "alice",
        "x-appos-role": "admin",
        "x-appos-client": "192.0.2.7",
        "x-appos-action": action,
        "x-appos-call": call,
        **{f"x-appos-{key}": value for key, value in extra.items()},
    }
    return tuple((key, value) for key, value in pairs.items() if value)


def _entries(store: Store, **filters: object) -> list[AuditEntry]:
    query = {"user": "", "app": "", "action": "", "since_us": 0, "until_us": 0, "page_size": 0}
    query.update(filters)
    with store.read() as s:
        found, _ = audit.list_entries(session=s, page_token="", **query)  # type: ignore[arg-type]
    return found


def _create_user(store: Store, name: str) -> None:
    with store.write() as s:
        users.create_user(session=s, username=name, password_hash=HASH, role="viewer", actor="alice")


def test_a_change_for_a_caller_commits_with_its_entry(store: Store) -> None:
    token = request_id_var.set("req-1")
    try:
        with origin(_origin("appos.v1.Auth.CreateUser", target="bob")):
            _create_user(store, "bob")
    finally:
        request_id_var.reset(token)
    [entry] = _entries(store)
    assert (entry.actor, entry.role, entry.action, entry.target) == (
        "alice",
        "admin",
        "appos.v1.Auth.CreateUser",
        "bob",
    )
    assert (entry.result, entry.message, entry.client, entry.request_id) == (
        "ok",
        "user_created",
        "192.0.2.7",
        "req-1",
    )


def test_a_change_that_rolls_back_leaves_no_entry(store: Store) -> None:
    with origin(_origin("appos.v1.Auth.CreateUser")):
        with pytest.raises(RuntimeError), store.write() as s:
            users.create_user(session=s, username="bob", password_hash=HASH, role="viewer", actor="alice")
            raise RuntimeError("crash after the change and its entry were flushed")
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(User)) == 0
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_background_writes_are_not_audited(store: Store) -> None:
    _create_user(store, "bob")  # no origin: a watcher, the worker, bootstrap
    with origin((("x-appos-user", "alice"),)):  # a caller, but no audited action (a read path)
        _create_user(store, "carol")
    assert _entries(store) == []


def test_a_call_is_recorded_once_across_writes(store: Store) -> None:
    with origin(_origin("appos.v1.Apps.CreateApp", call="n1")):
        with store.write() as s:
            app = apps.create_app(
                session=s, name="web", template="", compose="services: {}\n", env="",
                web_service="", web_port=0, actor="alice",
            )  # fmt: skip
            deployments.create_deployment(
                session=s, app=app, action="deploy", actor="alice", options_json="{}"
            )
        with store.write() as s:  # e.g. the deployer failing the deployment when the queue is down
            deployments.create_for_app(
                session=s, app_name="web", action="stop", actor="alice", options_json="{}"
            )
        with store.write() as s:  # the gateway's follow-up after it answered
            follow_up = audit_pb2.AuditEntry(action="appos.v1.Apps.CreateApp", result="ok")
            assert audit.append(session=s, entry=follow_up, call="n1", recent=store.recent_calls) == 0
    [entry] = _entries(store)
    assert entry.message == "app_created deployment_created"
    assert entry.app == "web"  # from the event's subject, as the origin named no app


def test_a_rolled_back_call_is_not_remembered(store: Store) -> None:
    with origin(_origin("appos.v1.Auth.CreateUser", call="n2")):
        with pytest.raises(RuntimeError), store.write() as s:
            users.create_user(session=s, username="bob", password_hash=HASH, role="viewer", actor="alice")
            raise RuntimeError("rolled back")
        _create_user(store, "bob")  # a retry within the same call is recorded
    assert len(_entries(store)) == 1


def test_failures_are_appended_and_change_nothing_else(store: Store) -> None:
    entry = audit_pb2.AuditEntry(
        actor="mallory", action="appos.v1.Auth.Login", target="mallory", result="unauthenticated",
        message="invalid username or password", client="198.51.100.1", request_id="r9",
    )  # fmt: skip
    with store.write() as s:
        entry_id = audit.append(session=s, entry=entry, call="", recent=store.recent_calls)
    assert entry_id > 0
    [row] = _entries(store, user="mallory")
    assert (row.result, row.target, row.request_id) == ("unauthenticated", "mallory", "r9")
    with pytest.raises(InvalidArgument), store.write() as s:
        audit.append(session=s, entry=audit_pb2.AuditEntry(actor="x"), call="", recent=store.recent_calls)


def test_filters_and_paging(store: Store) -> None:
    for i, (user, action, app) in enumerate(
        [
            ("alice", "appos.v1.Apps.CreateApp", "web"),
            ("bob", "appos.v1.Apps.StopApp", "web"),
            ("alice", "appos.v1.Proxy.AddDomain", "db"),
            ("alice", "terminal.session_start", "web"),
            ("alice", "appos.v1.AppsX.Other", ""),
        ]
    ):
        with store.write() as s:
            row = audit_pb2.AuditEntry(actor=user, action=action, app=app, result="ok", message=str(i))
            audit.append(session=s, entry=row, call="", recent=store.recent_calls)
    assert [e.message for e in _entries(store)] == ["4", "3", "2", "1", "0"]  # newest first
    assert [e.message for e in _entries(store, user="alice", app="web")] == ["3", "0"]
    assert [e.message for e in _entries(store, action="appos.v1.Apps")] == ["1", "0"]  # dotted prefix
    assert [e.message for e in _entries(store, action="terminal")] == ["3"]
    assert [e.message for e in _entries(store, action="appos.v1.Apps.StopApp")] == ["1"]
    # as the console shows it, without the package
    assert [e.message for e in _entries(store, action="Apps.StopApp")] == ["1"]
    assert [e.message for e in _entries(store, action="Apps")] == ["1", "0"]
    assert [e.message for e in _entries(store, action="pps.StopApp")] == []  # no substring matches
    first, second = _entries(store)[3].created_at, _entries(store)[1].created_at
    assert [e.message for e in _entries(store, since_us=first, until_us=second)] == ["2", "1"]
    with store.read() as s:
        page, token = audit.list_entries(
            session=s, user="", app="", action="", since_us=0, until_us=0, page_size=2, page_token=""
        )
        rest, last = audit.list_entries(
            session=s, user="", app="", action="", since_us=0, until_us=0, page_size=2, page_token=token
        )
        assert [e.message for e in page + rest] == ["4", "3", "2", "1"] and last
        with pytest.raises(InvalidArgument):
            audit.list_entries(session=s, user="", app="", action="", since_us=0, until_us=0, page_size=0,
                               page_token="nope")  # fmt: skip
        with pytest.raises(InvalidArgument):
            audit.list_entries(session=s, user="", app="", action="", since_us=0, until_us=0, page_size=501,
                               page_token="")  # fmt: skip


def test_stats_aggregate_deployments_apps_and_certificates(store: Store) -> None:
    with store.write() as s:
        app = apps.create_app(
            session=s, name="web", template="", compose="services: {}\n", env="", web_service="",
            web_port=0, actor="alice",
        )  # fmt: skip
        done = deployments.create_deployment(
            session=s, app=app, action="deploy", actor="a", options_json="{}"
        )
        deployments.create_deployment(session=s, app=app, action="stop", actor="a", options_json="{}")
        done.status, done.finished_at = "succeeded", done.created_at + 3_000_000
    with store.read() as s:
        found = stats.collect(session=s, buckets=[1.0, 5.0])
    rows = {(d.action, d.status): d for d in found.deployments}
    assert rows[("deploy", "succeeded")].count == 1
    assert list(rows[("deploy", "succeeded")].bucket_counts) == [0, 1]
    assert rows[("deploy", "succeeded")].duration_sum_seconds == pytest.approx(3.0)
    assert rows[("stop", "pending")].count == 1
    assert dict(found.apps_by_status) == {app.status: 1}
    with store.read() as s, pytest.raises(InvalidArgument):
        stats.collect(session=s, buckets=[5.0, 1.0])
