"""Rotating the key access tokens are signed with: every session ends (REST, the public gRPC port,
the event streams, the terminal), API tokens keep working, a restarted gateway keeps the new key,
only admins may do it, and it is audited without the key in any log."""

from __future__ import annotations

import json
import os
import stat
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from appos.v1 import auth_pb2, auth_pb2_grpc, system_pb2, system_pb2_grpc
from tests.harness import Stack, wait_for

ROTATE = "/api/v1/system/rotate-signing-key"
ACTION = "appos.v1.System.RotateSigningKey"


def _key_file(stack: Stack) -> Path:
    return stack.data / "secrets" / "jwt.key"


def _key(stack: Stack) -> tuple[str, int]:
    """The key file's content and inode (a rotation renames a new file into place)."""
    path = _key_file(stack)
    return path.read_text().strip(), path.stat().st_ino


def _user(stack: Stack, admin: str, role: str) -> tuple[str, str]:
    name, password = f"{role[:3]}{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    with stack.client(admin) as c:
        r = c.post("/api/v1/users", json={"username": name, "password": password, "role": role})
    assert r.status_code == 200, r.text
    return name, password


def _me(stack: Stack, token: str) -> int:
    with stack.client(token) as c:
        return c.get("/api/v1/auth/me").status_code


def _grpc_me(stack: Stack, token: str) -> grpc.StatusCode:
    with grpc.insecure_channel(f"127.0.0.1:{stack.env['APPOS_GRPC_PORT']}") as channel:
        try:
            auth_pb2_grpc.AuthStub(channel).Me(
                auth_pb2.MeRequest(), metadata=(("authorization", f"Bearer {token}"),), timeout=10
            )
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def _ws_close_code(stack: Stack, path: str, token: str) -> int:
    """The close code a WebSocket opened with `token` in the subprotocol header gets."""
    protocols = [Subprotocol("appos.v1"), Subprotocol(f"bearer.{token}")]
    with connect(f"ws://127.0.0.1:{stack.port}{path}", subprotocols=protocols) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def _audit(stack: Stack, token: str, count: int) -> list[dict[str, Any]]:
    def entries() -> list[dict[str, Any]] | None:
        with stack.client(token) as c:
            found: list[dict[str, Any]] = c.get("/api/v1/audit", params={"action": ACTION}).json()["entries"]
        return found if len(found) >= count else None

    result: list[dict[str, Any]] = wait_for(entries, timeout=30, what=f"{count} audit entries of {ACTION}")
    return result


def test_rotation_ends_every_session_keeps_api_tokens_and_survives_a_restart(fresh_stack: Stack) -> None:
    stack = fresh_stack
    admin = stack.login()
    operator_name, operator_pw = _user(stack, admin, "operator")
    viewer_name, viewer_pw = _user(stack, admin, "viewer")
    operator, viewer = stack.login(operator_name, operator_pw), stack.login(viewer_name, viewer_pw)
    with stack.client(admin) as c:
        api_token = c.post("/api/v1/tokens", json={"name": "ci", "role": "admin"}).json()["secret"]
    old_key, old_inode = _key(stack)

    # operators and viewers are refused, and nothing changes
    for token in (operator, viewer):
        with stack.client(token) as c:
            r = c.post(ROTATE, json={})
        assert r.status_code == 403 and r.json()["code"] == "permission_denied", r.text
    assert _key(stack) == (old_key, old_inode)
    assert [_me(stack, t) for t in (admin, operator, viewer)] == [200, 200, 200]

    with stack.client(admin) as c:
        rotated = c.post(ROTATE, json={})
    assert rotated.status_code == 200, rotated.text
    assert list(rotated.json()) == ["rotated_at"] and rotated.json()["rotated_at"].endswith("Z")

    # a new random key, written atomically (a new file renamed into place), readable by AppOS only
    new_key, new_inode = _key(stack)
    assert new_key != old_key and new_inode != old_inode and len(new_key) >= 64
    assert stat.S_IMODE(_key_file(stack).stat().st_mode) == 0o600
    left = [p.name for p in _key_file(stack).parent.iterdir() if p.name.startswith(".") or "jwt" in p.name]
    assert left == ["jwt.key"], f"no temp file is left: {left}"

    # every session signed with the old key ends, the caller's included, wherever it is used
    for token in (admin, operator, viewer):
        with stack.client(token) as c:
            r = c.get("/api/v1/auth/me")
            assert r.status_code == 401 and r.json()["code"] == "unauthenticated", r.text
            assert "log in again" in r.json()["message"]
            assert c.get("/api/v1/events").status_code == 401
        assert _grpc_me(stack, token) == grpc.StatusCode.UNAUTHENTICATED
    assert _ws_close_code(stack, "/api/v1/events/ws", admin) == 4401
    assert _ws_close_code(stack, "/api/v1/terminal/ws?target=host", admin) == 4401
    now = int(time.time())
    claims = {"sub": "admin", "role": "admin", "uv": 2**62, "iat": now, "exp": now + 3600, "jti": "x"}
    assert _me(stack, jwt.encode(claims, old_key, algorithm="HS256")) == 401, "the old key signs nothing"

    # API tokens are stored hashed, not signed: they keep working
    assert _me(stack, api_token) == 200 and _grpc_me(stack, api_token) == grpc.StatusCode.OK
    # a new login works, on both ports
    fresh = stack.login()
    assert _me(stack, fresh) == 200 and _grpc_me(stack, fresh) == grpc.StatusCode.OK
    assert _me(stack, stack.login(viewer_name, viewer_pw)) == 200

    # a restarted gateway uses the new key: the new session goes on, the old ones stay ended
    stack.supervisorctl("restart", "gateway")
    wait_for(lambda: stack.health() == 200, timeout=60, what="the gateway to answer again")
    assert _key(stack) == (new_key, new_inode)
    assert [_me(stack, t) for t in (fresh, api_token, admin, operator)] == [200, 200, 401, 401]

    # audited: the rotation (recorded by state with its event) and the two refusals
    entries = _audit(stack, fresh, 3)
    assert sorted((e["actor"], e["role"], e["result"]) for e in entries) == sorted(
        [
            ("admin", "admin", "ok"),
            (viewer_name, "viewer", "permission_denied"),
            (operator_name, "operator", "permission_denied"),
        ]
    )
    [done] = [e for e in entries if e["result"] == "ok"]
    assert done["message"] == "signing_key_rotated" and done["target"] == "signing-key"
    # the key is in no log line, audit entry or reply
    logs = "".join(p.read_text(errors="replace") for p in (stack.data / "log").glob("*.log"))
    for key in (old_key, new_key):
        assert key not in logs and key not in json.dumps(entries) and key not in rotated.text


def test_over_grpc_and_a_key_replaced_by_another_process_is_followed(fresh_stack: Stack) -> None:
    stack = fresh_stack
    admin = stack.login()
    with grpc.insecure_channel(f"127.0.0.1:{stack.env['APPOS_GRPC_PORT']}") as channel:
        reply = system_pb2_grpc.SystemStub(channel).RotateSigningKey(
            system_pb2.RotateSigningKeyRequest(), metadata=(("authorization", f"Bearer {admin}"),), timeout=10
        )
    assert reply.rotated_at.seconds > 0
    assert _me(stack, admin) == 401
    session = stack.login()
    assert _me(stack, session) == 200

    # another gateway process on the same APPOS_DATA rotates: it renames a new file into place
    path = _key_file(stack)
    replacement = "replaced-by-another-process-" + uuid.uuid4().hex
    tmp = path.with_name(".jwt.key.test.tmp")
    tmp.write_text(replacement)
    tmp.chmod(0o600)
    os.replace(tmp, path)
    assert _me(stack, session) == 401, "tokens signed with the key this gateway had are refused"
    claims = jwt.decode(stack.login(), replacement, algorithms=["HS256"])  # fails unless signed with it
    assert claims["sub"] == "admin"
