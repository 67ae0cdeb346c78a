"""Failed logins are limited per user and per client address, in Redis."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from services.common.errors import RateLimited
from services.gateway.ratelimit import LoginLimiter
from tests.harness import RedisServer, Stack


def test_sixth_failed_login_in_a_minute_is_429_even_with_the_right_password(fresh_stack: Stack) -> None:
    with fresh_stack.client() as c:
        for _ in range(5):
            r = c.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong-password"})
            assert r.status_code == 401
        blocked = c.post(
            "/api/v1/auth/login", json={"username": "admin", "password": fresh_stack.admin_password()}
        )
    assert blocked.status_code == 429
    body = blocked.json()
    assert body["code"] == "resource_exhausted"
    assert "try again in" in body["message"]


def test_failures_spread_over_many_usernames_are_limited_per_address(fresh_stack: Stack) -> None:
    with fresh_stack.client() as c:
        for i in range(5):
            r = c.post("/api/v1/auth/login", json={"username": f"guess{i}", "password": "wrong-password"})
            assert r.status_code == 401
        r = c.post("/api/v1/auth/login", json={"username": "another", "password": "wrong-password"})
    assert r.status_code == 429


def test_limiter_counts_per_user_and_per_address(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(redis_server.url)
        limiter = LoginLimiter(redis, max_failures=3, window_seconds=30)
        try:
            for _ in range(3):
                await limiter.check(username="carol", address="10.0.0.1")
                await limiter.failed(username="carol", address="10.0.0.1")
            with pytest.raises(RateLimited):
                await limiter.check(username="carol", address="10.0.0.2")  # the user is blocked
            with pytest.raises(RateLimited):
                await limiter.check(username="dave", address="10.0.0.1")  # so is the address
            await limiter.check(username="dave", address="10.0.0.3")  # others are not
            ttl = await redis.ttl(next(iter(await redis.keys("appos:login-failures:user:*"))))
            assert 0 < ttl <= 30
        finally:
            await redis.flushdb()
            await redis.aclose()

    asyncio.run(scenario())
