"""Failed-login limits in Redis, in a fixed window: per (user, client address) and per address.

Nobody locks anybody else out. Wrong passwords for a user from one address delay only that address
for that user; an address trying many usernames is delayed as a whole, at a higher count. No count
is kept per user alone: the owner logs in from their own address however many failures others
make. The address is the real client's, also behind AppOS's own Caddy (`gateway/forwarded.py`).
"""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.errors import RateLimited, Unavailable

_DOWN = "the login rate limiter (redis) is unavailable; try again shortly"


def _key(kind: str, *values: str) -> str:
    # Hash what the client sent: keys stay short and nothing the client chose reaches Redis raw.
    text = "\0".join(v.lower() for v in values)
    return f"appos:login-failures:{kind}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"


class LoginLimiter:
    def __init__(
        self, redis: Redis, *, max_failures: int, max_address_failures: int, window_seconds: int
    ) -> None:
        self._redis = redis
        self._window = window_seconds
        self._limits = {"pair": max_failures, "addr": max_address_failures}

    def _keys(self, username: str, address: str) -> dict[str, int]:
        """Each counter of this attempt → its limit."""
        return {
            _key("pair", username, address): self._limits["pair"],
            _key("addr", address): self._limits["addr"],
        }

    async def check(self, *, username: str, address: str) -> None:
        """RateLimited when this address has used up its failures, for this user or for all."""
        limits = self._keys(username, address)
        try:
            counts = await self._redis.mget(list(limits))
            full = [k for (k, limit), n in zip(limits.items(), counts, strict=True) if n and int(n) >= limit]
            waits = [await self._redis.ttl(key) for key in full]
        except RedisError as exc:
            raise Unavailable(_DOWN) from exc
        if full:
            wait = max((w for w in waits if w > 0), default=self._window)
            raise RateLimited(f"too many failed logins from your address; try again in {wait} seconds")

    async def failed(self, *, username: str, address: str) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key in self._keys(username, address):
                    pipe.incr(key)
                    pipe.expire(key, self._window, nx=True)
                await pipe.execute()
        except RedisError as exc:
            raise Unavailable(_DOWN) from exc

    async def succeeded(self, *, username: str, address: str) -> None:
        """A right password clears that user's count at that address (not the address's own: a
        login to one's own account must not buy more guesses at others)."""
        try:
            await self._redis.delete(_key("pair", username, address))
        except RedisError as exc:
            raise Unavailable(_DOWN) from exc
