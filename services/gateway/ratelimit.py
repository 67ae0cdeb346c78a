"""Failed-login limits in Redis: per user and per client address, in a fixed window."""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.errors import RateLimited, Unavailable


def _key(kind: str, value: str) -> str:
    # Hash what the client sent: keys stay short and nothing the client chose reaches Redis raw.
    return f"appos:login-failures:{kind}:{hashlib.sha256(value.lower().encode()).hexdigest()[:32]}"


class LoginLimiter:
    def __init__(self, redis: Redis, *, max_failures: int, window_seconds: int) -> None:
        self._redis = redis
        self._max = max_failures
        self._window = window_seconds

    async def check(self, *, username: str, address: str) -> None:
        """RateLimited when the user or the address has used up its failures for this window."""
        keys = [_key("user", username), _key("addr", address)]
        try:
            counts = await self._redis.mget(keys)
            for key, count in zip(keys, counts, strict=True):
                if count is not None and int(count) >= self._max:
                    ttl = await self._redis.ttl(key)
                    wait = ttl if ttl and ttl > 0 else self._window
                    raise RateLimited(f"too many failed logins; try again in {wait} seconds")
        except RedisError as exc:
            raise Unavailable("the login rate limiter (redis) is unavailable; try again shortly") from exc

    async def failed(self, *, username: str, address: str) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key in (_key("user", username), _key("addr", address)):
                    pipe.incr(key)
                    pipe.expire(key, self._window, nx=True)
                await pipe.execute()
        except RedisError as exc:
            raise Unavailable("the login rate limiter (redis) is unavailable; try again shortly") from exc

    async def succeeded(self, *, username: str) -> None:
        try:
            await self._redis.delete(_key("user", username))
        except RedisError as exc:
            raise Unavailable("the login rate limiter (redis) is unavailable; try again shortly") from exc
