"""The audit log through the real stack: changes recorded by state with who, what, target, app,
result, client and request id; refused and failed calls recorded by the gateway; terminal sessions;
the public gRPC port; filters; and who may read it."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest

from appos.v1 import auth_pb2, auth_pb2_grpc
from tests.harness import Stack, free_port, wait_for
from tests.integration.test_terminal import open_term

pytestmark = pytest.mark.usefixtures("busybox_image")


def _user(stack: Stack, admin_token: str, role: str) -> tuple[str, str]:
    name, password = f"au{role[:2]}{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with stack.client(admin_token) as c:
        r = c.post("/api/v1/users", json={"username": name, "password": password, "role": role})
    assert r.status_code == 200, r.text
    return name, stack.login(name, password)


def _audit(stack: Stack, token: str, **params: str) -> list[dict[str, Any]]:
    with stack.client(token) as c:
        r = c.get("/api/v1/audit", params=params)
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


def _wait_entries(stack: Stack, token: str, count: int, **params: str) -> list[dict[str, Any]]:
    """The newest entries matching `params`, once there are at least `count` (the gateway records
    failures right after it answers)."""
    found: list[dict[str, Any]] = wait_for(
        lambda: e if len(e := _audit(stack, token, **params)) >= count else None,
        timeout=15,
        what=f"{count} audit entries for {params}",
    )
    return found


def _rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def test_deploy_edit_rollback_and_remove_are_recorded(stack: Stack, admin_token: str) -> None:
    operator, token = _user(stack, admin_token, "operator")
    app, port = f"au{uuid.uuid4().hex[:8]}", free_port()
    reply, deployment = stack.deploy(
        token,
        {"name": app, "template": "busybox-httpd", "settings": {"HTTP_PORT": str(port), "MESSAGE": "one"}},
    )
    assert deployment["status"] == "succeeded"
    with stack.client(token) as c:
        current = c.get(f"/api/v1/apps/{app}/compose")
        edit = c.put(
            f"/api/v1/apps/{app}/compose",
            json={"compose": current.json()["compose"] + "\n# edited\n", "env": current.json()["env"]},
            headers={"If-Match": current.headers["etag"]},
        )
        assert edit.status_code == 200, edit.text
        edit_request_id = edit.headers["x-request-id"]
        before_rollback = time.time()
        rollback = c.post(f"/api/v1/apps/{app}/rollback", json={"version": 1})
        assert rollback.status_code == 202, rollback.text
    assert stack.wait_deployment(token, rollback.json()["deployment"]["id"])["status"] == "succeeded"
    assert stack.act(token, app, "remove", remove_volumes="true")["status"] == "succeeded"

    entries = _wait_entries(stack, admin_token, 5, user=operator)
    assert [e["action"] for e in entries] == [
        "appos.v1.Apps.DeleteApp",
        "appos.v1.Apps.Rollback",
        "appos.v1.Apps.UpdateCompose",
        "appos.v1.Apps.CreateApp",
        "appos.v1.Auth.Login",
    ]
    for entry in entries:
        assert (entry["actor"], entry["result"], entry["client"]) == (operator, "ok", "127.0.0.1")
        assert entry["request_id"] and entry["time"]
    delete, rollback_entry, edit_entry, create, login = entries
    assert (create["target"], create["app"], create["role"]) == (app, app, "operator")
    assert create["message"].split() == ["app_created", "version_created", "deployment_created"]
    assert (edit_entry["app"], edit_entry["request_id"]) == (app, edit_request_id)
    assert "version_created" in edit_entry["message"]
    # a rollback's target names the version it went back to ("blog/1": "Rolled back blog to version 1")
    assert rollback_entry["target"] == f"{app}/1" and "deployment_created" in rollback_entry["message"]
    assert delete["app"] == app
    assert login["target"] == operator

    # filters: by app, by action (exact and dotted prefix), by time
    assert {e["action"] for e in _audit(stack, admin_token, app=app)} == {
        "appos.v1.Apps.DeleteApp",
        "appos.v1.Apps.Rollback",
        "appos.v1.Apps.UpdateCompose",
        "appos.v1.Apps.CreateApp",
    }
    assert [e["id"] for e in _audit(stack, admin_token, user=operator, action="appos.v1.Apps.Rollback")] == [
        rollback_entry["id"]
    ]
    assert len(_audit(stack, admin_token, user=operator, action="appos.v1.Apps")) == 4
    since = _audit(stack, admin_token, user=operator, since=_rfc3339(before_rollback))
    assert [e["action"] for e in since] == ["appos.v1.Apps.DeleteApp", "appos.v1.Apps.Rollback"]
    until = _audit(stack, admin_token, user=operator, until=_rfc3339(before_rollback))
    assert [e["action"] for e in until] == [e["action"] for e in entries[2:]]
    page = _audit(stack, admin_token, user=operator, page_size="2")
    with stack.client(admin_token) as c:
        first = c.get("/api/v1/audit", params={"user": operator, "page_size": "2"}).json()
        second = c.get(
            "/api/v1/audit",
            params={"user": operator, "page_size": "2", "page_token": first["next_page_token"]},
        ).json()
    assert [e["id"] for e in page] == [e["id"] for e in first["entries"]]
    assert [e["id"] for e in first["entries"] + second["entries"]] == [e["id"] for e in entries[:4]]
    assert reply["app"]["name"] == app


def test_refused_and_failed_calls_are_recorded(stack: Stack, admin_token: str) -> None:
    # a username that is no account is recorded as "unknown user", never as typed (people type
    # their password there); a wrong password names the account
    tried, password = f"Passw0rd-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    viewer, viewer_token = _user(stack, admin_token, "viewer")
    with stack.client() as c:
        unknown = c.post("/api/v1/auth/login", json={"username": tried, "password": password})
        wrong = c.post("/api/v1/auth/login", json={"username": viewer.upper(), "password": password})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["message"] == wrong.json()["message"]  # the caller cannot tell them apart
    ids = {unknown.headers["x-request-id"]: "unknown user", wrong.headers["x-request-id"]: viewer}
    logins = wait_for(
        lambda: (
            e if len(e := [x for x in _audit(stack, admin_token) if x["request_id"] in ids]) == 2 else None
        ),
        timeout=15,
        what="the failed logins' entries",
    )
    for entry in logins:
        assert (entry["action"], entry["result"]) == ("appos.v1.Auth.Login", "unauthenticated")
        assert entry["actor"] == entry["target"] == ids[entry["request_id"]]
        assert tried.lower() not in json.dumps(entry).lower() and password not in json.dumps(entry)

    with stack.client(viewer_token) as c:
        denied = c.post("/api/v1/apps", json={"name": "nope", "template": "busybox-httpd"})
        assert denied.status_code == 403
        assert c.get("/api/v1/apps").status_code == 200  # a read: not recorded
    [forbidden, _wrong, _login] = _wait_entries(stack, admin_token, 3, user=viewer)
    assert (forbidden["action"], forbidden["result"], forbidden["role"]) == (
        "appos.v1.Apps.CreateApp",
        "permission_denied",
        "viewer",
    )
    assert "operator" in forbidden["message"]

    operator, operator_token = _user(stack, admin_token, "operator")
    with stack.client(operator_token) as c:
        invalid = c.post("/api/v1/apps", json={"name": "Not A Name", "template": "busybox-httpd"})
    assert invalid.status_code == 400
    [bad, _] = _wait_entries(stack, admin_token, 2, user=operator)
    assert (bad["action"], bad["result"]) == ("appos.v1.Apps.CreateApp", "invalid_argument")
    assert bad["target"] == bad["app"] == "Not A Name"  # what was asked for, as it was asked

    with stack.client() as c:  # no token on a change: recorded with no actor
        anonymous = c.post("/api/v1/apps/whatever/stop", json={})
    assert anonymous.status_code == 401
    rid = anonymous.headers["x-request-id"]
    wait_for(
        lambda: any(e["request_id"] == rid for e in _audit(stack, admin_token, user="-")),
        timeout=15,
        what="the anonymous call's entry",
    )
    [entry] = [e for e in _audit(stack, admin_token, user="-") if e["request_id"] == rid]
    assert (entry["target"], entry["app"], entry["result"]) == ("whatever", "whatever", "unauthenticated")


def test_only_admins_read_the_audit_log(stack: Stack, admin_token: str) -> None:
    for role in ("viewer", "operator"):
        _, token = _user(stack, admin_token, role)
        with stack.client(token) as c:
            r = c.get("/api/v1/audit")
        assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    with stack.client() as c:
        r = c.get("/api/v1/audit")
    assert r.status_code == 401 and set(r.json()) == {"code", "message", "request_id"}
    with stack.client(admin_token) as c:
        assert c.get("/api/v1/audit", params={"since": "yesterday"}).status_code == 400
        assert c.get("/api/v1/audit", params={"since": "2026-01-01T00:00:00"}).status_code == 400  # no zone
        assert c.get("/api/v1/audit", params={"page_size": "501"}).status_code == 400
        assert c.get("/api/v1/audit", params={"page_token": "x"}).status_code == 400


def test_terminal_sessions_are_recorded(stack: Stack, admin_token: str) -> None:
    admin, token = _user(stack, admin_token, "admin")
    try:
        with open_term(stack, token, target="host") as (term, opened):
            term.run("echo audit-$((6*7))", rb"audit-42")
            term.ws.send(json.dumps({"type": "close"}))
            assert term.message("exit")["reason"] == "closed"
    finally:  # the shared stack keeps one admin (test_auth checks the last admin cannot go)
        with stack.client(admin_token) as c:
            assert c.delete(f"/api/v1/users/{admin}").status_code == 200
    end, start = _wait_entries(stack, admin_token, 2, user=admin, action="terminal")
    assert (start["action"], end["action"]) == ("terminal.session_start", "terminal.session_end")
    for entry in (start, end):
        assert (entry["target"], entry["role"], entry["client"], entry["result"]) == (
            "host",
            "admin",
            "127.0.0.1",
            "ok",
        )
    assert start["message"] == "terminal_session_started" and end["message"] == "terminal_session_ended"
    assert start["request_id"] == end["request_id"] != "-"
    assert opened["session"]  # the session id is in the event log's payload, not needed here


def test_public_grpc_changes_and_refusals_are_recorded(stack: Stack, admin_token: str) -> None:
    operator, token = _user(stack, admin_token, "operator")
    with grpc.insecure_channel(f"127.0.0.1:{stack.env['APPOS_GRPC_PORT']}") as channel:
        auth = auth_pb2_grpc.AuthStub(channel)
        bearer = (("authorization", f"Bearer {token}"), ("x-request-id", "grpc-audit-1"))
        auth.CreateToken(auth_pb2.CreateTokenRequest(name="ci", role="viewer"), metadata=bearer, timeout=30)
        auth.ListTokens(auth_pb2.ListTokensRequest(), metadata=bearer, timeout=30)  # a read
        with pytest.raises(grpc.RpcError) as refused:
            auth.CreateUser(
                auth_pb2.CreateUserRequest(
                    username="x" + uuid.uuid4().hex[:6], password="p" * 12, role="admin"
                ),
                metadata=bearer,
                timeout=30,
            )
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    denied, created, _login = _wait_entries(stack, admin_token, 3, user=operator)
    assert (created["action"], created["result"], created["target"]) == (
        "appos.v1.Auth.CreateToken",
        "ok",
        "ci",
    )
    assert (created["request_id"], created["client"]) == ("grpc-audit-1", "127.0.0.1")
    assert (denied["action"], denied["result"]) == ("appos.v1.Auth.CreateUser", "permission_denied")
