"""Logins, API tokens and the role matrix, through the real gateway and state."""

from __future__ import annotations

import time
import uuid

import jwt

from tests.harness import Stack, wait_for


def _new_user(stack: Stack, admin_token: str, role: str) -> tuple[str, str]:
    username = f"{role[:3]}{uuid.uuid4().hex[:8]}"
    password = f"pw-{uuid.uuid4().hex}"
    with stack.client(admin_token) as c:
        r = c.post("/api/v1/users", json={"username": username, "password": password, "role": role})
    assert r.status_code == 200, r.text
    assert r.json()["role"] == role
    return username, password


def test_login_with_the_right_password_gives_a_working_token(stack: Stack) -> None:
    with stack.client() as c:
        r = c.post("/api/v1/auth/login", json={"username": "admin", "password": stack.admin_password()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    assert body["user"]["username"] == "admin"
    with stack.client(body["access_token"]) as c:
        me = c.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["username"] == "admin"
    assert me.json()["role"] == "admin"


def test_login_with_a_wrong_password_or_unknown_user_is_401(stack: Stack) -> None:
    with stack.client() as c:
        wrong = c.post("/api/v1/auth/login", json={"username": "admin", "password": "not-the-password"})
        unknown = c.post("/api/v1/auth/login", json={"username": "nobody", "password": "whatever123"})
    for r in (wrong, unknown):
        assert r.status_code == 401
        body = r.json()
        assert body["code"] == "unauthenticated"
        assert body["message"] == "invalid username or password"
        assert body["request_id"]
        assert "access_token" not in body


def test_api_token_create_use_revoke(stack: Stack, admin_token: str) -> None:
    with stack.client(admin_token) as c:
        created = c.post("/api/v1/tokens", json={"name": "ci", "role": "operator", "expires_in_days": 30})
    assert created.status_code == 200, created.text
    secret = created.json()["secret"]
    token_id = created.json()["id"]
    assert secret.startswith("appos_")
    assert created.json()["token"]["role"] == "operator"
    assert created.json()["token"]["expires_at"]

    with stack.client(secret) as c:
        me = c.get("/api/v1/auth/me")
        assert me.status_code == 200
        assert me.json()["username"] == "admin"
        # the token's role, not its owner's, is what counts
        assert c.get("/api/v1/users").status_code == 403

    with stack.client(admin_token) as c:
        listed = c.get("/api/v1/tokens").json()["tokens"]
        assert token_id in [t["id"] for t in listed]
        assert all("secret" not in t and "token_hash" not in t for t in listed)
        revoked = c.delete(f"/api/v1/tokens/{token_id}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]

    with stack.client(secret) as c:
        after = c.get("/api/v1/auth/me")
    assert after.status_code == 401
    assert after.json()["code"] == "unauthenticated"


def test_unknown_and_malformed_tokens_are_401(stack: Stack) -> None:
    for token in ("appos_" + "x" * 43, "not-a-jwt", "eyJhbGciOiJIUzI1NiJ9.e30.abc"):
        with stack.client(token) as c:
            r = c.get("/api/v1/auth/me")
        assert r.status_code == 401, token
        assert r.headers["www-authenticate"] == "Bearer"
    with stack.client() as c:
        r = c.get("/api/v1/auth/me", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert r.status_code == 401


def test_expired_access_token_is_401(stack: Stack) -> None:
    secret = (stack.data / "secrets" / "jwt.key").read_text().strip()
    now = int(time.time())
    expired = jwt.encode(
        {"sub": "admin", "role": "admin", "uv": 0, "iat": now - 7200, "exp": now - 3600},
        secret,
        algorithm="HS256",
    )
    with stack.client(expired) as c:
        r = c.get("/api/v1/auth/me")
    assert r.status_code == 401
    assert "expired" in r.json()["message"]


def test_token_signed_with_another_key_is_401(stack: Stack) -> None:
    now = int(time.time())
    forged = jwt.encode(
        {"sub": "admin", "role": "admin", "uv": 2**62, "iat": now, "exp": now + 3600},
        "not-the-secret-but-long-enough-for-hs256",
        algorithm="HS256",
    )
    with stack.client(forged) as c:
        assert c.get("/api/v1/users").status_code == 401


def test_role_matrix(stack: Stack, admin_token: str) -> None:
    viewer, viewer_pw = _new_user(stack, admin_token, "viewer")
    operator, operator_pw = _new_user(stack, admin_token, "operator")
    viewer_token = stack.login(viewer, viewer_pw)
    operator_token = stack.login(operator, operator_pw)

    with stack.client(viewer_token) as c:
        assert c.get("/api/v1/auth/me").status_code == 200
        assert c.get("/api/v1/system/info").status_code == 200
        assert c.get("/api/v1/tokens").status_code == 200
        denied = c.post("/api/v1/tokens", json={"name": "mine"})
        assert denied.status_code == 403
        assert denied.json()["code"] == "permission_denied"
        assert c.get("/api/v1/users").status_code == 403
        assert (
            c.post(
                "/api/v1/users", json={"username": "zed", "password": "12345678", "role": "admin"}
            ).status_code
            == 403
        )
        assert c.get("/api/v1/tokens", params={"all_users": "true"}).status_code == 403

    with stack.client(operator_token) as c:
        own = c.post("/api/v1/tokens", json={"name": "deploys"})
        assert own.status_code == 200
        assert own.json()["token"]["role"] == "operator"
        assert c.post("/api/v1/tokens", json={"name": "up", "role": "admin"}).status_code == 403
        assert c.get("/api/v1/users").status_code == 403
        assert c.patch(f"/api/v1/users/{operator}", json={"role": "admin"}).status_code == 403

    with stack.client(admin_token) as c:
        assert c.get("/api/v1/users").status_code == 200
        assert c.get("/api/v1/tokens", params={"all_users": "true"}).status_code == 200
        # viewer cannot see the user list; the user did not get created by the viewer's attempt
        assert c.get("/api/v1/users/zed").status_code == 404


def test_operator_cannot_revoke_someone_elses_token(stack: Stack, admin_token: str) -> None:
    operator, operator_pw = _new_user(stack, admin_token, "operator")
    with stack.client(admin_token) as c:
        admins = c.post("/api/v1/tokens", json={"name": "admin-only"}).json()
    with stack.client(stack.login(operator, operator_pw)) as c:
        r = c.delete(f"/api/v1/tokens/{admins['id']}")
    assert r.status_code == 404
    with stack.client(admins["secret"]) as c:
        assert c.get("/api/v1/auth/me").status_code == 200


def test_disabling_a_user_ends_its_sessions_and_tokens(stack: Stack, admin_token: str) -> None:
    username, password = _new_user(stack, admin_token, "operator")
    session = stack.login(username, password)
    with stack.client(session) as c:
        api_token = c.post("/api/v1/tokens", json={"name": "t"}).json()["secret"]
    with stack.client(admin_token) as c:
        assert c.patch(f"/api/v1/users/{username}", json={"disabled": True}).status_code == 200
    with stack.client(api_token) as c:
        assert c.get("/api/v1/auth/me").status_code == 401
    with stack.client(session) as c:
        assert c.get("/api/v1/auth/me").status_code == 401
    with stack.client() as c:
        r = c.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 401


def test_change_password(stack: Stack, admin_token: str) -> None:
    username, password = _new_user(stack, admin_token, "viewer")
    token = stack.login(username, password)
    with stack.client(token) as c:
        wrong = c.post(
            "/api/v1/auth/password", json={"current_password": "nope-nope", "new_password": "n" * 12}
        )
        assert wrong.status_code == 403
        short = c.post("/api/v1/auth/password", json={"current_password": password, "new_password": "short"})
        assert short.status_code == 400
        ok = c.post("/api/v1/auth/password", json={"current_password": password, "new_password": "n" * 12})
        assert ok.status_code == 200
        # the old session ended with the change
        assert c.get("/api/v1/auth/me").status_code == 401
    stack.login(username, "n" * 12)


def test_the_last_admin_cannot_be_removed_or_demoted(stack: Stack, admin_token: str) -> None:
    with stack.client(admin_token) as c:
        users = c.get("/api/v1/users", params={"page_size": 1000}).json()["users"]
        admins = [u for u in users if u["role"] == "admin" and not u["disabled"]]
        assert [u["username"] for u in admins] == ["admin"]  # no test makes another admin here
        r = c.delete("/api/v1/users/admin")
        assert r.status_code == 400
        assert r.json()["code"] == "failed_precondition"
        assert c.patch("/api/v1/users/admin", json={"role": "viewer"}).status_code == 400
        assert c.patch("/api/v1/users/admin", json={"disabled": True}).status_code == 400
        assert c.get("/api/v1/users/admin").json()["role"] == "admin"


def test_users_crud_and_paging(stack: Stack, admin_token: str) -> None:
    names = [_new_user(stack, admin_token, "viewer")[0] for _ in range(3)]
    with stack.client(admin_token) as c:
        dup = c.post("/api/v1/users", json={"username": names[0], "password": "12345678", "role": "viewer"})
        assert dup.status_code == 409
        assert dup.json()["code"] == "already_exists"
        seen: list[str] = []
        token = ""
        while True:
            page = c.get("/api/v1/users", params={"page_size": 2, "page_token": token}).json()
            assert len(page["users"]) <= 2
            seen.extend(u["username"] for u in page["users"])
            token = page["next_page_token"]
            if not token:
                break
        assert set(names) <= set(seen)
        assert len(seen) == len(set(seen))
        assert c.delete(f"/api/v1/users/{names[0]}").status_code == 200
        assert c.get(f"/api/v1/users/{names[0]}").status_code == 404


def test_logout_ends_that_session_only_and_survives_a_gateway_restart(fresh_stack: Stack) -> None:
    stack = fresh_stack
    leaving, staying = stack.login(), stack.login()
    with stack.client(leaving) as c:
        r = c.post("/api/v1/auth/logout", json={})
        assert r.status_code == 200, r.text
        assert r.json() == {"username": "admin"}
        r = c.get("/api/v1/auth/me")
        assert r.status_code == 401 and "signed out" in r.json()["message"], r.text
        assert c.post("/api/v1/auth/logout", json={}).status_code == 401  # once is enough
    with stack.client(staying) as c:  # the same user's other session goes on
        assert c.get("/api/v1/auth/me").status_code == 200
        secret = c.post("/api/v1/tokens", json={"name": "ci", "role": "viewer"}).json()["secret"]
    with stack.client(secret) as c:  # an API token is revoked, not signed out
        r = c.post("/api/v1/auth/logout", json={})
        assert r.status_code == 400 and "revoke" in r.json()["message"], r.text
        assert c.get("/api/v1/auth/me").status_code == 200
    with stack.client() as c:
        assert c.post("/api/v1/auth/logout", json={}).status_code == 401
    # a restarted gateway still refuses the signed-out session (kept in Redis until it would expire)
    stack.supervisorctl("restart", "gateway")
    wait_for(lambda: stack.health() == 200, timeout=60, what="the gateway to answer again")
    with stack.client(leaving) as c:
        assert c.get("/api/v1/auth/me").status_code == 401
    with stack.client(staying) as c:
        assert c.get("/api/v1/auth/me").status_code == 200
    with stack.client(stack.login()) as c:
        entries = c.get("/api/v1/audit", params={"action": "appos.v1.Auth.Logout"}).json()["entries"]
    # newest first: the sign-out, the repeated one, the API token's, the anonymous one
    assert [(e["actor"], e["result"]) for e in entries] == [
        ("-", "unauthenticated"),
        ("admin", "invalid_argument"),
        ("-", "unauthenticated"),
        ("admin", "ok"),
    ]
