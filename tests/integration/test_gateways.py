"""Two gateway processes (APPOS_GATEWAY_PROCESSES=2) behave as one, whichever answers (issue 21): a
login on one works on the other, a session signed out, a token revoked or a user disabled on one is
refused by the other at its next request, failed logins and open streams are counted across both,
an event reaches the clients of both, and both serve the shared REST and gRPC ports.

Each process is reached alone through its own Unix socket (`APPOS_RUN_DIR/gateway-<n>.sock`). A
stack of this module's own, with the default limits (the shared one raises them)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, unix_connect
from websockets.typing import Subprotocol

from appos.v1 import auth_pb2, auth_pb2_grpc
from tests.harness import Stack, start_stack, wait_for

pytestmark = pytest.mark.xdist_group("gateways")  # one module-scoped stack

GATEWAYS = (1, 2)
LOGIN_LIMIT = 5  # APPOS_LOGIN_MAX_FAILURES' default
STREAMS_LIMIT = 4  # a low APPOS_STREAMS_PER_USER, so the test opens few streams


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("gateways"),
        extra_env={"APPOS_GATEWAY_PROCESSES": "2", "APPOS_STREAMS_PER_USER": str(STREAMS_LIMIT)},
    )
    try:
        for n in GATEWAYS:  # /health answered on the shared port; each process may still be starting
            wait_for(lambda n=n: _health(running, n) == 200, timeout=60, what=f"gateway {n}")
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def admin_token(stack: Stack) -> str:
    return stack.login()


def _socket(stack: Stack, n: int) -> str:
    return str(stack.run_dir / f"gateway-{n}.sock")


def gateway(stack: Stack, n: int, token: str | None = None) -> httpx.Client:
    """A client of gateway process n alone."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.HTTPTransport(uds=_socket(stack, n))
    return httpx.Client(transport=transport, base_url="http://gateway", headers=headers, timeout=30)


def _health(stack: Stack, n: int) -> int:
    try:
        with gateway(stack, n) as c:
            return c.get("/health").status_code
    except httpx.TransportError:
        return 0


def _login(stack: Stack, n: int, username: str, password: str) -> httpx.Response:
    with gateway(stack, n) as c:
        return c.post("/api/v1/auth/login", json={"username": username, "password": password})


def _me(stack: Stack, n: int, token: str) -> httpx.Response:
    with gateway(stack, n, token) as c:
        return c.get("/api/v1/auth/me")


def _user(stack: Stack, admin_token: str, role: str = "operator") -> tuple[str, str]:
    name, password = f"gw{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with gateway(stack, 1, admin_token) as c:
        r = c.post("/api/v1/users", json={"username": name, "password": password, "role": role})
    assert r.status_code == 200, r.text
    return name, password


def _token_of(stack: Stack, n: int, username: str, password: str) -> str:
    r = _login(stack, n, username, password)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


@contextmanager
def events(stack: Stack, n: int, token: str, after: int) -> Iterator[ClientConnection]:
    """The events WebSocket of gateway process n, past its hello."""
    protocols = [Subprotocol("appos.v1"), Subprotocol(f"bearer.{token}")]
    uri = f"ws://gateway/api/v1/events/ws?after={after}"
    with unix_connect(_socket(stack, n), uri, subprotocols=protocols) as ws:
        assert json.loads(ws.recv(timeout=10)) == {"type": "hello", "after": after}
        yield ws


def _last_seq(stack: Stack, token: str) -> int:
    with gateway(stack, 1, token) as c:
        return int(c.get("/api/v1/system/info").json()["last_event_seq"])


def test_a_login_on_one_gateway_works_on_the_other(stack: Stack, admin_token: str) -> None:
    name, password = _user(stack, admin_token)
    for here, there in ((1, 2), (2, 1)):
        token = _token_of(stack, here, name, password)
        me = _me(stack, there, token)
        assert me.status_code == 200 and me.json()["username"] == name, me.text
    with gateway(stack, 2, _token_of(stack, 2, name, password)) as c:  # an API token made on one
        r = c.post("/api/v1/tokens", json={"name": "script", "role": "viewer"})
    assert r.status_code == 200, r.text
    assert _me(stack, 1, r.json()["secret"]).json()["username"] == name


@pytest.mark.parametrize(("here", "there"), [(1, 2), (2, 1)])
def test_a_session_signed_out_on_one_gateway_is_refused_by_the_other_at_once(
    stack: Stack, admin_token: str, here: int, there: int
) -> None:
    name, password = _user(stack, admin_token)
    token = _token_of(stack, there, name, password)
    kept = _token_of(stack, there, name, password)  # another session of the same user
    assert _me(stack, there, token).status_code == 200  # known there
    with gateway(stack, here, token) as c:
        assert c.post("/api/v1/auth/logout", json={}).status_code == 200
    refused = _me(stack, there, token)
    assert refused.status_code == 401 and "signed out" in refused.json()["message"], refused.text
    assert _me(stack, there, kept).status_code == 200  # only that session


def test_an_api_token_revoked_on_one_gateway_is_refused_by_the_other(stack: Stack, admin_token: str) -> None:
    name, password = _user(stack, admin_token)
    with gateway(stack, 1, _token_of(stack, 1, name, password)) as c:
        created = c.post("/api/v1/tokens", json={"name": "ci", "role": "viewer"}).json()
    assert _me(stack, 2, created["secret"]).status_code == 200
    with gateway(stack, 1, admin_token) as c:
        assert c.delete(f"/api/v1/tokens/{created['id']}").status_code == 200
    assert _me(stack, 2, created["secret"]).status_code == 401


def test_a_user_disabled_on_one_gateway_is_refused_by_the_other_at_once(
    stack: Stack, admin_token: str
) -> None:
    name, password = _user(stack, admin_token)
    token = _token_of(stack, 2, name, password)
    assert _me(stack, 2, token).status_code == 200  # gateway 2 now holds the user's record
    with gateway(stack, 1, admin_token) as c:
        assert c.patch(f"/api/v1/users/{name}", json={"disabled": True}).status_code == 200
    refused = _me(stack, 2, token)  # not after its cache's 5 s: at once
    assert refused.status_code == 401 and "disabled" in refused.json()["message"], refused.text


def test_failed_logins_are_counted_across_both_gateways(stack: Stack, admin_token: str) -> None:
    name, password = _user(stack, admin_token)
    for attempt in range(LOGIN_LIMIT):  # alternately on each process
        r = _login(stack, GATEWAYS[attempt % 2], name, "wrong password")
        assert r.status_code == 401, r.text
    for n in GATEWAYS:  # the right password is refused now on both: the counter is Redis's
        r = _login(stack, n, name, password)
        assert r.status_code == 429 and "too many failed logins" in r.json()["message"], r.text
    assert stack.login(name, password)  # from another address (127.0.0.1 on the TCP port): not limited


def test_an_event_reaches_the_clients_of_both_gateways(stack: Stack, admin_token: str) -> None:
    after = _last_seq(stack, admin_token)
    with events(stack, 1, admin_token, after) as one, events(stack, 2, admin_token, after) as two:
        name, _ = _user(stack, admin_token)  # user_created, written through gateway 1
        for ws in (one, two):
            seen: list[dict[str, Any]] = []
            while not any(e.get("type") == "user_created" and e["subject"] == name for e in seen):
                seen.append(json.loads(ws.recv(timeout=10)))
            assert [e["seq"] for e in seen] == list(range(after + 1, after + 1 + len(seen)))


def test_a_stream_on_one_gateway_ends_when_its_session_is_signed_out_on_the_other(
    stack: Stack, admin_token: str
) -> None:
    name, password = _user(stack, admin_token)
    token = _token_of(stack, 1, name, password)
    with events(stack, 2, token, _last_seq(stack, admin_token)) as ws:
        with gateway(stack, 1, token) as c:
            assert c.post("/api/v1/auth/logout", json={}).status_code == 200
        last: dict[str, Any] = {}
        with pytest.raises(ConnectionClosed) as closed:
            while True:  # keepalives until the next re-check (APPOS_STREAM_RECHECK_SECONDS, 1 s)
                last = json.loads(ws.recv(timeout=10))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert last["type"] == "error" and "signed out" in last["message"], last


def test_open_streams_are_counted_across_both_gateways(stack: Stack, admin_token: str) -> None:
    name, password = _user(stack, admin_token, role="viewer")
    token = _token_of(stack, 1, name, password)
    after = _last_seq(stack, admin_token)

    def sse(held: ExitStack, n: int) -> httpx.Response:
        """An event stream (server-sent events) on gateway n, open until `held` closes it."""
        client = held.enter_context(gateway(stack, n, token))
        return held.enter_context(client.stream("GET", "/api/v1/events", params={"after": after}))

    with ExitStack() as held:
        first = ExitStack()
        assert sse(first, 1).status_code == 200
        held.enter_context(first)
        for i in range(1, STREAMS_LIMIT):
            assert sse(held, GATEWAYS[i % 2]).status_code == 200
        for n in GATEWAYS:
            with ExitStack() as more:
                refused = sse(more, n)
                assert refused.status_code == 429
                refused.read()
                assert f"has {STREAMS_LIMIT} streams open" in refused.json()["message"]
        first.close()  # closed on gateway 1: its place is free on gateway 2

        def place_free() -> bool:
            with ExitStack() as more:
                return sse(more, 2).status_code == 200

        wait_for(place_free, timeout=10, what="the closed stream's place")


def _counted(stack: Stack, n: int, token: str, family: str, **labels: str) -> float:
    """The sum of a counter's samples with these labels, in process n's /metrics."""
    with gateway(stack, n, token) as c:
        text = c.get("/metrics").text
    return sum(
        sample.value
        for metric in text_string_to_metric_families(text)
        for sample in metric.samples
        if sample.name == family and labels.items() <= sample.labels.items()
    )


def test_both_processes_serve_the_shared_rest_and_grpc_ports(stack: Stack, admin_token: str) -> None:
    """New connections to the shared ports until each process counted some of them (the kernel
    spreads connections over the processes: SO_REUSEPORT)."""
    rest = {"route": "/api/v1/auth/me", "status": "200"}
    grpc_me = {"method": "/appos.v1.Auth/Me", "code": "OK"}
    before = {n: _counted(stack, n, admin_token, "appos_http_requests_total", **rest) for n in GATEWAYS}
    grpc_before = {
        n: _counted(stack, n, admin_token, "appos_grpc_server_calls_total", **grpc_me) for n in GATEWAYS
    }

    def rest_spread() -> bool:
        assert (
            httpx.get(
                f"{stack.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {admin_token}"}
            ).status_code
            == 200
        )
        now = {n: _counted(stack, n, admin_token, "appos_http_requests_total", **rest) for n in GATEWAYS}
        return all(now[n] > before[n] for n in GATEWAYS)

    def grpc_spread() -> bool:
        target = f"127.0.0.1:{stack.env['APPOS_GRPC_PORT']}"
        with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            auth_pb2_grpc.AuthStub(channel).Me(
                auth_pb2.MeRequest(), metadata=(("authorization", f"Bearer {admin_token}"),), timeout=10
            )
        now = {
            n: _counted(stack, n, admin_token, "appos_grpc_server_calls_total", **grpc_me) for n in GATEWAYS
        }
        return all(now[n] > grpc_before[n] for n in GATEWAYS)

    wait_for(rest_spread, timeout=30, interval=0.01, what="REST requests answered by both processes")
    wait_for(grpc_spread, timeout=30, interval=0.01, what="gRPC calls answered by both processes")
