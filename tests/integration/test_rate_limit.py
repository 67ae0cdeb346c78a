"""Failed logins slow down the address that fails, never another: counted per (user, address) and
per address, in Redis. The gateway listens on 127.0.0.1 and each client binds its own loopback
source address (127.0.0.x), directly or through AppOS's own Caddy on a console domain; a forged
X-Forwarded-For sent straight to the gateway counts for nothing."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Iterator

import httpx
import pytest
from redis.asyncio import Redis

from services.common.errors import RateLimited
from services.common.forwarding import PROXY_HEADER
from services.gateway.ratelimit import LoginLimiter
from tests.harness import Pebble, RedisServer, Stack, free_port, start_pebble, start_stack, wait_for

# one stack for the module (the default limits: 5 per user and address, 20 per address); each test
# fails from addresses of its own, so their counts never meet
pytestmark = pytest.mark.xdist_group("rate_limit")
CONSOLE = "console.ratelimit.test"


@pytest.fixture(scope="module")
def limited_with_ca(
    tmp_path_factory: pytest.TempPathFactory, docker_engine: None
) -> Iterator[tuple[Stack, Pebble]]:
    """The stack, and Pebble as its ACME CA: a console domain is served only over HTTPS."""
    folder = tmp_path_factory.mktemp("ratelimit")
    http_port, https_port = free_port(), free_port()
    pebble = start_pebble(folder / "pebble", http_port=http_port, https_port=https_port)
    stack = start_stack(
        folder / "stack",
        extra_env={
            "APPOS_PROXY_HTTP_PORT": str(http_port),
            "APPOS_PROXY_HTTPS_PORT": str(https_port),
            "APPOS_ACME_CA": pebble.directory,
            "APPOS_ACME_CA_ROOT": str(pebble.api_root),
            "APPOS_PROXY_DNS_SERVER": pebble.dns,
        },
    )
    yield stack, pebble
    stack.stop()
    pebble.stop()


@pytest.fixture(scope="module")
def limited(limited_with_ca: tuple[Stack, Pebble]) -> Stack:
    return limited_with_ca[0]


def client(base_url: str, source: str, headers: dict[str, str] | None = None) -> httpx.Client:
    """A client whose connections come from the loopback address `source`."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=base_url, transport=transport, headers=headers, timeout=30)


def login(c: httpx.Client, username: str, password: str) -> httpx.Response:
    return c.post("/api/v1/auth/login", json={"username": username, "password": password})


def make_user(stack: Stack, role: str = "viewer") -> tuple[str, str]:
    name, password = f"rl{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    with stack.client(stack.login()) as c:
        r = c.post("/api/v1/users", json={"username": name, "password": password, "role": role})
    assert r.status_code == 200, r.text
    return name, password


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["code"] == "resource_exhausted"
    assert "try again in" in body["message"] and "seconds" in body["message"]


def test_five_wrong_passwords_delay_that_address_not_the_user(limited: Stack) -> None:
    stack, password = limited, limited.admin_password()
    viewer, viewer_password = make_user(stack)
    with client(stack.url, "127.0.0.5") as attacker:
        assert [login(attacker, "admin", f"wrong-{i}").status_code for i in range(5)] == [401] * 5
        assert_limited(login(attacker, "admin", password))  # even the right password waits there
        # the address itself is not shut out: another account logs in from it
        assert login(attacker, viewer, viewer_password).status_code == 200
    with client(stack.url, "127.0.0.9") as owner:
        assert login(owner, "admin", password).status_code == 200  # the admin, from elsewhere
    with client(stack.url, "127.0.0.5") as attacker:  # still waiting after that success
        assert_limited(login(attacker, "admin", password))


def test_failures_spread_over_many_usernames_are_limited_per_address(limited: Stack) -> None:
    viewer, viewer_password = make_user(limited)
    with client(limited.url, "127.0.0.6") as sprayer:
        statuses = [login(sprayer, f"guess{i}", "wrong-password").status_code for i in range(20)]
        assert statuses == [401] * 20
        assert_limited(login(sprayer, viewer, viewer_password))  # now the whole address waits
    with client(limited.url, "127.0.0.10") as other:
        assert login(other, viewer, viewer_password).status_code == 200


def test_a_forged_forwarded_for_sent_to_the_gateway_is_ignored(limited: Stack) -> None:
    """From 127.0.0.1 — the address uvicorn would trust by default, and Caddy's — with a made-up
    client address and a guessed proof: the failures count against the real connecting address."""
    user, password = make_user(limited)
    forged = {"X-Forwarded-For": "127.0.0.11", PROXY_HEADER: "a-guess", "Forwarded": "for=127.0.0.11"}
    with client(limited.url, "127.0.0.1", headers=forged) as spoofer:
        assert [login(spoofer, user, f"wrong-{i}").status_code for i in range(5)] == [401] * 5
        assert_limited(login(spoofer, user, password))
    with client(limited.url, "127.0.0.1") as same:
        assert_limited(login(same, user, password))  # what it really is
    with client(limited.url, "127.0.0.11") as framed:
        assert login(framed, user, password).status_code == 200  # who it claimed to be: untouched


def _add_console_domain(stack: Stack, token: str) -> None:
    with stack.client(token) as c:
        r = c.post("/api/v1/proxy/domains", json={"domain": CONSOLE, "console": True})
    assert r.status_code == 200, r.text


class _SNITransport(httpx.HTTPTransport):
    """Connects to an address and asks Caddy for `server_name` (like curl --resolve)."""

    def __init__(self, server_name: str, *, local_address: str, verify: ssl.SSLContext) -> None:
        super().__init__(local_address=local_address, verify=verify)
        self.server_name = server_name

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.extensions["sni_hostname"] = self.server_name
        return super().handle_request(request)


def _answers(c: httpx.Client, path: str) -> bool:
    try:
        return c.get(path).status_code == 200
    except httpx.HTTPError:  # no certificate yet: the handshake fails
        return False


def test_through_caddy_the_limit_counts_the_real_client(limited_with_ca: tuple[Stack, Pebble]) -> None:
    stack, pebble = limited_with_ca
    password = stack.admin_password()
    token = stack.login()
    _add_console_domain(stack, token)
    caddy = f"https://127.0.0.1:{stack.env['APPOS_PROXY_HTTPS_PORT']}"
    trusted = ssl.create_default_context(cadata=pebble.issuing_root())

    def through_caddy(source: str, headers: dict[str, str] | None = None) -> httpx.Client:
        transport = _SNITransport(CONSOLE, local_address=source, verify=trusted)
        headers = {"Host": CONSOLE, **(headers or {})}
        return httpx.Client(base_url=caddy, transport=transport, headers=headers, timeout=30)

    with through_caddy("127.0.0.12") as c:
        wait_for(lambda: _answers(c, "/health"), timeout=60, what="the console via Caddy, over HTTPS")
    # a client of Caddy cannot choose its address either: Caddy writes X-Forwarded-For and the proof
    forged = {"X-Forwarded-For": "127.0.0.14", PROXY_HEADER: "a-guess"}
    with through_caddy("127.0.0.12", forged) as attacker:
        assert [login(attacker, "admin", f"wrong-{i}").status_code for i in range(5)] == [401] * 5
        assert_limited(login(attacker, "admin", password))
    with through_caddy("127.0.0.13") as owner:
        assert login(owner, "admin", password).status_code == 200
    with through_caddy("127.0.0.14") as framed:
        assert login(framed, "admin", password).status_code == 200
    with client(stack.url, "127.0.0.1") as direct:  # Caddy's own address was never counted
        assert login(direct, "admin", password).status_code == 200

    def refused_clients() -> set[str]:  # the audit log names the real client too
        with stack.client(token) as c:
            entries = c.get("/api/v1/audit", params={"action": "appos.v1.Auth.Login"}).json()["entries"]
        return {e["client"] for e in entries if e["result"] == "resource_exhausted"}

    wait_for(lambda: "127.0.0.12" in refused_clients(), timeout=15, what="the audit entry of the 429")


def test_limiter_counts_per_user_and_address_and_per_address(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(redis_server.url)
        limiter = LoginLimiter(redis, max_failures=3, max_address_failures=5, window_seconds=30)
        try:
            for _ in range(3):
                await limiter.check(username="carol", address="10.0.0.1")
                await limiter.failed(username="carol", address="10.0.0.1")
            with pytest.raises(RateLimited):
                await limiter.check(username="carol", address="10.0.0.1")  # carol, from there
            await limiter.check(username="carol", address="10.0.0.2")  # carol elsewhere: no wait
            await limiter.check(username="dave", address="10.0.0.1")  # others there: not yet
            await limiter.succeeded(username="dave", address="10.0.0.1")
            for _ in range(2):
                await limiter.failed(username="dave", address="10.0.0.1")
            with pytest.raises(RateLimited):
                await limiter.check(username="erin", address="10.0.0.1")  # 5 from the address
            await limiter.check(username="erin", address="10.0.0.3")
            await limiter.succeeded(username="carol", address="10.0.0.1")  # clears carol's pair only
            with pytest.raises(RateLimited):
                await limiter.check(username="carol", address="10.0.0.1")
            ttl = await redis.ttl(next(iter(await redis.keys("appos:login-failures:addr:*"))))
            assert 0 < ttl <= 30
        finally:
            await redis.flushdb()
            await redis.aclose()

    asyncio.run(scenario())
