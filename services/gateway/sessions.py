"""Signed-out sessions: the ids (`jti`) of access tokens whose user signed out, refused until the
token would have expired anyway.

The gateway checks its own memory on every request (no round trip); each sign-out is also written
to Redis (`appos:session:revoked:<jti>`, expiring with the token), from which a restarted gateway
loads them before it accepts its first access token.
"""

from __future__ import annotations

import asyncio
import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.errors import Unavailable

logger = logging.getLogger(__name__)

KEY_PREFIX = "appos:session:revoked:"
_RETRY_LOAD_SECONDS = 10.0


class RevokedSessions:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._until: dict[str, float] = {}  # jti → expiry (epoch seconds)
        self._loaded = False
        self._next_load = 0.0
        self._lock = asyncio.Lock()

    async def revoke(self, jti: str, expires_at: float) -> None:
        """Refuse this session from now on. Fails (and refuses nothing) when Redis cannot keep it."""
        remaining = int(expires_at - time.time()) + 1
        if remaining <= 0:
            return
        try:
            await self._redis.set(KEY_PREFIX + jti, "1", ex=remaining)
        except RedisError as exc:
            raise Unavailable("signing out needs Redis, which is unavailable; try again shortly") from exc
        self._until[jti] = expires_at
        self._prune()

    async def is_revoked(self, jti: str) -> bool:
        if not self._loaded:
            await self._load()
        until = self._until.get(jti)
        return until is not None and until > time.time()

    async def _load(self) -> None:
        async with self._lock:
            if self._loaded or time.monotonic() < self._next_load:
                return
            try:
                async for key in self._redis.scan_iter(match=KEY_PREFIX + "*", count=500):
                    name = key.decode() if isinstance(key, bytes) else str(key)
                    ttl = await self._redis.ttl(name)
                    if ttl > 0:
                        self._until[name.removeprefix(KEY_PREFIX)] = time.time() + ttl
            except RedisError:
                # Sessions signed out before this gateway started are not known yet: try again soon.
                logger.warning("could not load signed-out sessions from redis; retrying", exc_info=True)
                self._next_load = time.monotonic() + _RETRY_LOAD_SECONDS
                return
            self._loaded = True

    def _prune(self) -> None:
        now = time.time()
        for jti in [j for j, until in self._until.items() if until <= now]:
            del self._until[jti]
