"""Live events over server-sent events and the WebSocket: resumable from any seq, exactly once."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin, Subprotocol

from tests.harness import Stack


def _last_seq(stack: Stack, token: str) -> int:
    with stack.client(token) as c:
        return int(c.get("/api/v1/system/info").json()["last_event_seq"])


def _make_users(stack: Stack, token: str, n: int) -> list[str]:
    names = [f"ev{uuid.uuid4().hex[:8]}" for _ in range(n)]
    with stack.client(token) as c:
        for name in names:
            assert (
                c.post(
                    "/api/v1/users", json={"username": name, "password": "p" * 10, "role": "viewer"}
                ).status_code
                == 200
            )
    return names


def _sse(stack: Stack, token: str, after: int, until: set[str]) -> list[dict[str, Any]]:
    """Read events from `after` until every username in `until` was created; then hang up."""
    seen: list[dict[str, Any]] = []
    waiting = set(until)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.stream(
        "GET", f"{stack.url}/api/v1/events", params={"after": after}, headers=headers, timeout=30
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        event_id = None
        for line in r.iter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                event = json.loads(line[6:])
                assert event["seq"] == event_id
                seen.append(event)
                if event["type"] == "user_created":
                    waiting.discard(event["subject"])
                if not waiting:
                    break
    return seen


def test_sse_resumes_after_a_disconnect_without_gaps_or_repeats(stack: Stack, admin_token: str) -> None:
    start = _last_seq(stack, admin_token)
    first_batch = _make_users(stack, admin_token, 3)
    first = _sse(stack, admin_token, start, set(first_batch))
    # the client is gone; more happens meanwhile
    second_batch = _make_users(stack, admin_token, 4)
    second = _sse(stack, admin_token, first[-1]["seq"], set(second_batch))
    seqs = [e["seq"] for e in first + second]
    assert seqs == list(range(start + 1, start + 1 + len(seqs))), "contiguous, each once"
    created = [e["subject"] for e in first + second if e["type"] == "user_created"]
    assert [n for n in created if n.startswith("ev")][-7:] == first_batch + second_batch
    assert all("password" not in json.dumps(e["payload"]) for e in first + second)


def test_sse_needs_a_token_and_checks_after(stack: Stack, admin_token: str) -> None:
    assert httpx.get(f"{stack.url}/api/v1/events").status_code == 401
    r = httpx.get(
        f"{stack.url}/api/v1/events",
        params={"after": "-1"},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_argument"


def ws_connect(url: str, *, token: str = "", origin: str = "") -> ClientConnection:
    protocols = [Subprotocol("appos.v1"), Subprotocol(f"bearer.{token}")] if token else None
    return connect(url, subprotocols=protocols, origin=Origin(origin) if origin else None)


def _ws_url(stack: Stack, after: int) -> str:
    return f"ws://127.0.0.1:{stack.port}/api/v1/events/ws?after={after}"


def test_websocket_with_token_in_the_subprotocol_header(stack: Stack, admin_token: str) -> None:
    start = _last_seq(stack, admin_token)
    names = _make_users(stack, admin_token, 2)
    with ws_connect(_ws_url(stack, start), token=admin_token) as ws:
        assert ws.subprotocol == "appos.v1"
        assert json.loads(ws.recv(timeout=10)) == {"type": "hello", "after": start}
        got: list[dict[str, Any]] = []
        while {e["subject"] for e in got if e["type"] == "user_created"} < set(names):
            got.append(json.loads(ws.recv(timeout=10)))
    assert [e["seq"] for e in got] == list(range(start + 1, start + 1 + len(got)))


def test_websocket_with_token_in_the_first_message_resumes(stack: Stack, admin_token: str) -> None:
    start = _last_seq(stack, admin_token)
    names = _make_users(stack, admin_token, 2)
    with connect(_ws_url(stack, start)) as ws:
        ws.send(json.dumps({"token": admin_token}))
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        first = json.loads(ws.recv(timeout=10))
    later = _make_users(stack, admin_token, 1)
    with connect(_ws_url(stack, first["seq"])) as ws:
        ws.send(json.dumps({"token": admin_token}))
        ws.recv(timeout=10)
        rest: list[dict[str, Any]] = []
        while later[0] not in {e["subject"] for e in rest}:
            rest.append(json.loads(ws.recv(timeout=10)))
    seqs = [first["seq"]] + [e["seq"] for e in rest]
    assert seqs == list(range(start + 1, start + 1 + len(seqs)))
    assert set(names) <= {e["subject"] for e in [first, *rest]}


@pytest.mark.parametrize("first_message", [{"token": "garbage"}, {"nothing": 1}, ["not", "an", "object"]])
def test_websocket_without_a_valid_token_is_closed_4401(stack: Stack, first_message: Any) -> None:
    with connect(_ws_url(stack, 0)) as ws:
        ws.send(json.dumps(first_message))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_cross_origin_websocket_is_refused_at_the_handshake(stack: Stack, admin_token: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(_ws_url(stack, 0), origin="http://evil.example", token=admin_token)
    assert refused.value.response.status_code == 403
    same = f"http://127.0.0.1:{stack.port}"
    with ws_connect(_ws_url(stack, 0), origin=same, token=admin_token) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"


def test_a_hundred_open_event_clients_leave_the_api_answering(stack: Stack, admin_token: str) -> None:
    """Every event client shares the gateway's one state watch: 100 open streams hold no state
    threads, other calls keep answering, and each stream gets the next event once."""

    async def scenario() -> None:
        headers = {"Authorization": f"Bearer {admin_token}"}
        after = _last_seq(stack, admin_token)
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=60, limits=limits) as c:

            async def listen(ready: asyncio.Event, name: str) -> int:
                async with c.stream("GET", "/api/v1/events", params={"after": str(after)}) as r:
                    assert r.status_code == 200
                    ready.set()
                    async for line in r.aiter_lines():
                        if line.startswith("data: ") and name in line:
                            return int(json.loads(line[6:])["seq"])
                return -1

            name = f"ev{uuid.uuid4().hex[:8]}"
            readies = [asyncio.Event() for _ in range(100)]
            listeners = [asyncio.create_task(listen(ready, name)) for ready in readies]
            await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), 60)
            # with 100 streams open, reads and writes still answer (the state service has 32 threads)
            reads = await asyncio.gather(*(c.get("/api/v1/users") for _ in range(40)))
            assert {r.status_code for r in reads} == {200}
            r = await c.post("/api/v1/users", json={"username": name, "password": "p" * 10, "role": "viewer"})
            assert r.status_code == 200, r.text
            seqs = await asyncio.wait_for(asyncio.gather(*listeners), 60)
            assert len(set(seqs)) == 1 and seqs[0] > after  # every client got the same event

    asyncio.run(scenario())
