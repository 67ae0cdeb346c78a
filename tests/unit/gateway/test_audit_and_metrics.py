"""The gateway's audit classification and description of calls, and the pure parts of /metrics."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from appos.v1 import apps_pb2, audit_pb2, auth_pb2, system_pb2
from services.common import queues
from services.common.clients import call_metadata, origin
from services.common.errors import InvalidArgument, Unauthenticated
from services.gateway.audit import UNKNOWN_USER, AuditCall, AuditRecorder, LoginRefused, audited, parse_time
from services.gateway.context import Caller
from services.gateway.metrics import ScrapeCollector, Snapshot, is_loopback, metrics_endpoint, route_templates


def _method(file: Any, service: str, name: str) -> Any:
    return file.DESCRIPTOR.services_by_name[service].methods_by_name[name]


class _Recorder(AuditRecorder):
    def __init__(self) -> None:
        self.appended: list[tuple[audit_pb2.AuditEntry, bool]] = []

    def append(self, entry: audit_pb2.AuditEntry, *, if_absent: bool, nonce: str) -> None:
        self.appended.append((entry, if_absent))


def test_changes_are_audited_and_reads_are_not() -> None:
    assert audited(_method(apps_pb2, "Apps", "CreateApp"))  # POST
    assert audited(_method(apps_pb2, "Apps", "UpdateCompose"))  # PUT
    assert audited(_method(apps_pb2, "Apps", "DeleteApp"))  # DELETE
    assert audited(_method(auth_pb2, "Auth", "Login"))  # public, but a change (and failures matter)
    assert not audited(_method(apps_pb2, "Apps", "GetApp"))
    assert not audited(_method(system_pb2, "System", "GetHealth"))
    assert not audited(_method(audit_pb2, "Audit", "ListAudit"))
    assert not audited(_method(apps_pb2, "Apps", "GetAppLogs"))  # a stream without a rule: a read
    assert not audited(_method(apps_pb2, "Apps", "ValidateApp"))  # a POST marked read_only: stores nothing


def test_a_call_is_described_by_its_path_or_its_name() -> None:
    recorder = _Recorder()
    call = AuditCall(recorder, _method(apps_pb2, "Apps", "Rollback"), client="::1", request_id="r1")
    call.identify(Caller(username="olga", role="operator"))
    call.describe(apps_pb2.RollbackRequest(app="web", version=1), {"app": "web"})
    # the version of a rollback (in its body) is part of the target: "Rolled back web to version 1"
    assert (call.actor, call.role, call.target, call.app) == ("olga", "operator", "web/1", "web")
    create = AuditCall(recorder, _method(apps_pb2, "Apps", "CreateApp"), client="::1", request_id="r2")
    create.describe(apps_pb2.CreateAppRequest(name="blog", template="wordpress"))
    assert (create.actor, create.target, create.app) == ("-", "blog", "blog")
    # an anonymous CreateUser (a 401) is not "by" the user it would create
    user = AuditCall(recorder, _method(auth_pb2, "Auth", "CreateUser"), client="", request_id="")
    user.describe(auth_pb2.CreateUserRequest(username="eve", password="secret-password"))
    assert (user.actor, user.target) == ("-", "eve")
    # what a login typed is never taken (people type passwords there): the outcome names the account
    login = AuditCall(recorder, _method(auth_pb2, "Auth", "Login"), client="", request_id="")
    login.describe(auth_pb2.LoginRequest(username=" Mallory ", password="hunter2"))
    assert (login.actor, login.target) == ("-", "")
    assert "Mallory" not in str(login.origin())


def test_the_origin_is_ascii_metadata_and_travels_with_calls() -> None:
    call = AuditCall(_Recorder(), _method(auth_pb2, "Auth", "CreateToken"), client="10.0.0.1", request_id="r")
    call.identify(Caller(username="olga", role="operator"))
    call.describe(auth_pb2.CreateTokenRequest(name="ci ☃\n"))
    pairs = dict(call.origin())
    assert pairs["x-appos-target"] == "ci \\u2603?"
    assert pairs["x-appos-action"] == "appos.v1.Auth.CreateToken" and pairs["x-appos-call"] == call.nonce
    assert all(value.isascii() and value.isprintable() for value in pairs.values())
    with origin(call.origin()):
        sent = dict(call_metadata(user="someone-else"))
    assert sent["x-appos-user"] == "someone-else" and sent["x-appos-client"] == "10.0.0.1"
    assert "x-appos-action" not in dict(call_metadata())  # outside the call: no origin


def test_outcomes_become_entries() -> None:
    recorder = _Recorder()
    call = AuditCall(recorder, _method(auth_pb2, "Auth", "Login"), client="127.0.0.1", request_id="r9")
    call.describe(auth_pb2.LoginRequest(username="bob", password="pw"))
    call.done(LoginRefused("bob"))
    call.done(None)
    call.done(asyncio.CancelledError())  # the client left: nothing to add
    (failed, if_absent_failed), (ok, if_absent_ok) = recorder.appended
    assert (failed.result, failed.message, failed.actor, failed.target, if_absent_failed) == (
        "unauthenticated",
        "invalid username or password",
        "bob",
        "bob",
        False,
    )
    assert (ok.result, if_absent_ok, ok.request_id, ok.client) == ("ok", True, "r9", "127.0.0.1")


def test_a_failed_login_for_no_account_records_unknown_user() -> None:
    recorder = _Recorder()
    for refusal in (LoginRefused(UNKNOWN_USER), Unauthenticated("invalid username or password")):
        call = AuditCall(recorder, _method(auth_pb2, "Auth", "Login"), client="::1", request_id="r")
        call.describe(auth_pb2.LoginRequest(username="my-Passw0rd!", password="pw"))
        call.done(refusal)
    (unknown, _), (other, _) = recorder.appended
    assert (unknown.actor, unknown.target) == (UNKNOWN_USER, UNKNOWN_USER)
    assert (other.actor, other.target) == ("-", "")
    assert "Passw0rd" not in str(recorder.appended)


def test_times_must_be_rfc3339_with_a_zone() -> None:
    assert parse_time("since", "") == 0
    assert parse_time("since", "1970-01-01T00:00:01Z") == 1_000_000
    assert parse_time("since", "1970-01-01T01:00:01+01:00") == 1_000_000
    for bad in ("yesterday", "1970-01-01T00:00:01"):
        with pytest.raises(InvalidArgument):
            parse_time("since", bad)


def test_queue_depth_has_one_sample_per_queue() -> None:
    collector = ScrapeCollector()
    waiting = {queues.DEPLOYMENTS: 1, queues.BACKUPS: 0, queues.NOTIFICATIONS: 4}
    collector.snapshot = Snapshot(queue_depth=waiting)
    (depth,) = [family for family in collector.collect() if family.name == "appos_queue_depth"]
    assert {s.labels["queue"]: s.value for s in depth.samples} == waiting


def test_route_templates_and_loopback() -> None:
    async def endpoint(request: Any) -> Any:
        raise AssertionError

    static = Starlette()
    templates = route_templates([Route("/api/v1/apps/{app}", endpoint), Mount("", app=static)])
    assert templates == {endpoint: "/api/v1/apps/{app}", static: "/{path}"}
    assert is_loopback("127.0.0.1") and is_loopback("::1")
    assert not is_loopback("192.0.2.1") and not is_loopback("testclient")


def _metrics_app(*, public_local: bool) -> Starlette:
    async def authenticate(authorization: str | None) -> Caller:
        if authorization != "Bearer good":
            raise Unauthenticated("a bearer token is required")
        return Caller(username="v", role="viewer")

    class _Metrics:
        async def refresh(self, runtime: Any) -> None:
            return None

        def render(self) -> bytes:
            return b"# metrics\n"

    app = Starlette(routes=[Route("/metrics", metrics_endpoint)])
    app.state.runtime = SimpleNamespace(authenticator=SimpleNamespace(authenticate=authenticate))
    app.state.metrics, app.state.metrics_public_local = _Metrics(), public_local
    return app


def _get(app: Starlette, client: str, token: str = "") -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            return await c.get("/metrics", headers={"Authorization": f"Bearer {token}"} if token else {})

    return asyncio.run(go())


@pytest.mark.parametrize("public_local", [False, True])
def test_only_loopback_clients_skip_the_token_in_local_mode(public_local: bool) -> None:
    app = _metrics_app(public_local=public_local)
    with pytest.raises(Unauthenticated):
        _get(app, "192.0.2.10")  # not local: a token is needed
    assert _get(app, "192.0.2.10", "good").status_code == 200
    if public_local:
        assert _get(app, "127.0.0.1").text == "# metrics\n"
    else:
        with pytest.raises(Unauthenticated):
            _get(app, "127.0.0.1")
    with pytest.raises(Unauthenticated):  # a bad token is refused even from loopback
        _get(app, "127.0.0.1", "bad")
