"""The whole REST surface, enumerated from /openapi.json: authentication, errors, request ids."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.harness import Stack

PUBLIC = {("/health", "get"), ("/api/v1/auth/login", "post")}


def _operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(path, verb) for path, item in document["paths"].items() for verb in item]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_openapi_needs_a_token_and_lists_every_public_method(stack: Stack, admin_token: str) -> None:
    with stack.client() as c:
        assert c.get("/openapi.json").status_code == 401
    with stack.client(admin_token) as c:
        document = c.get("/openapi.json").json()
    operations = _operations(document)
    assert len(operations) >= 40
    assert set(PUBLIC) <= set(operations)
    # internal services never appear
    assert not any(
        "State" in op.get("operationId", "") for item in document["paths"].values() for op in item.values()
    )


@pytest.mark.parametrize("token", [None, "garbage", "appos_" + "0" * 43])
def test_every_route_but_health_and_login_is_401_without_a_valid_token(
    stack: Stack, admin_token: str, token: str | None
) -> None:
    with stack.client(admin_token) as c:
        document = c.get("/openapi.json").json()
    checked = 0
    with stack.client(token) as c:
        for path, verb in _operations(document):
            if (path, verb) in PUBLIC:
                continue
            r = c.request(
                verb.upper(), _concrete(path), json={} if verb in ("post", "put", "patch") else None
            )
            assert r.status_code == 401, (verb, path, r.status_code, r.text)
            body = r.json()
            assert body["code"] == "unauthenticated" and body["message"] and body["request_id"]
            checked += 1
    assert checked >= 38


def test_public_routes_answer_without_a_token(stack: Stack) -> None:
    with stack.client() as c:
        assert c.get("/health").status_code == 200
        assert c.post("/api/v1/auth/login", json={"username": "x", "password": "y"}).status_code in (401, 429)


def _error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    assert set(body) == {"code", "message", "request_id"}
    assert body["message"]
    return body


def test_bad_input_gets_a_json_4xx_and_creates_nothing(stack: Stack, admin_token: str) -> None:
    with stack.client(admin_token) as c:
        before = c.get("/api/v1/users", params={"page_size": 1000}).json()["users"]
        post = c.post
        cases = [
            (post("/api/v1/users", content=b'{"username": "bad", '), 400, "not valid JSON"),
            (post("/api/v1/users", content=b"\xff\xfe"), 400, "request body"),
            (post("/api/v1/users", json=["a", "list"]), 400, "JSON object"),
            (
                post("/api/v1/users", json={"username": 5, "password": "12345678", "role": "viewer"}),
                400,
                "username",
            ),
            (
                post(
                    "/api/v1/users", json={"username": "ok", "password": "12345678", "role": "viewer", "x": 1}
                ),
                400,
                "unknown field 'x'",
            ),
            (
                post("/api/v1/users", json={"username": "ok2", "password": "12345678", "role": "root"}),
                400,
                "role",
            ),
            (
                post("/api/v1/users", json={"username": "../etc", "password": "12345678", "role": "viewer"}),
                400,
                "username",
            ),
            (
                post("/api/v1/users", json={"username": "okay3", "password": "short", "role": "viewer"}),
                400,
                "password",
            ),
            (post("/api/v1/tokens", json={"name": "t", "expires_in_days": "soon"}), 400, "expires_in_days"),
            (post("/api/v1/tokens", json={"name": "t", "expires_in_days": 99999}), 400, "expires_in_days"),
            (post("/api/v1/tokens", json={"name": "t", "expires_in_days": 2**40}), 400, "expires_in_days"),
            (c.get("/api/v1/users", params={"page_size": "many"}), 400, "page_size"),
            (c.get("/api/v1/users", params={"nope": "1"}), 400, "unknown query parameter"),
            (c.get("/api/v1/users", params={"page_token": "%%%"}), 400, "page_token"),
            (c.request("GET", "/api/v1/auth/me", content=b'{"a": 1}'), 400, "no request body"),
            (post("/api/v1/users", content=b"x" * (2 * 1024 * 1024)), 413, "larger than"),
        ]
        for response, status, needle in cases:
            body = _error(response, status)
            assert needle.lower() in body["message"].lower(), (needle, body)
        after = c.get("/api/v1/users", params={"page_size": 1000}).json()["users"]
    assert after == before


def test_unknown_routes_and_methods(stack: Stack, admin_token: str) -> None:
    with stack.client(admin_token) as c:
        assert _error(c.get("/api/v1/no-such-thing"), 404)["code"] == "not_found"
        assert _error(c.get("/api/v1/users/nobody-here"), 404)["code"] == "not_found"
        assert _error(c.put("/api/v1/auth/me", json={}), 405)["code"] == "method_not_allowed"


def test_request_id_is_echoed_or_made(stack: Stack) -> None:
    with stack.client() as c:
        given = c.get("/health", headers={"x-request-id": "trace-123"})
        made = c.get("/health")
        bad = c.get("/health", headers={"x-request-id": "a b\tc"})
    assert given.headers["x-request-id"] == "trace-123"
    assert re.fullmatch(r"[0-9a-f]{16}", made.headers["x-request-id"])
    assert bad.headers["x-request-id"] != "a b\tc"


def test_health_names_every_part(stack: Stack) -> None:
    with stack.client() as c:
        r = c.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert {p["name"]: p["status"] for p in body["parts"]} == {
        "state": "ok",
        "deployer": "ok",
        "worker": "ok",
        "proxyctl": "ok",
        "caddy": "ok",
        "terminal": "ok",
        "redis": "ok",
        "docker": "ok",
    }


def test_dashboard_is_served_with_spa_fallback(stack: Stack) -> None:
    with stack.client() as c:
        root = c.get("/")
        deep = c.get("/apps/wordpress/logs")
    assert root.status_code == 200 and "<title>AppOS</title>" in root.text
    assert deep.status_code == 200 and deep.text == root.text


def test_system_info(stack: Stack, admin_token: str) -> None:
    with stack.client(admin_token) as c:
        info = c.get("/api/v1/system/info").json()
    assert info["version"]
    assert info["docker_version"] not in ("", "unavailable")
    assert int(info["last_event_seq"]) >= 1
