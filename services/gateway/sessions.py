"""What every gateway process must agree on about a login's session, kept in Redis: whether it was
signed out, and whether its user was changed through some gateway since its record was cached.

- A sign-out writes `appos:session:revoked:<jti>`, expiring with the token. Fails (and signs out
  nothing) when Redis cannot keep it.
- A change to a user made through a gateway (password, role, disabled, deleted, 2FA) moves that
  user's generation, `appos:user:generation:<hash>`: every process drops its cached record of that
  user when it sees the generation move.

Each access token costs one `MGET` of both keys (p50 0.15 ms here: bench/gateways.py), so a session
signed out on one gateway process is refused by every other at its next request, whichever process
answers. While Redis cannot be read, a process falls back on what it saw itself (the sessions it
signed out or found signed out, refused until they would have expired anyway) and on the 5-second
lifetime of its user cache (`redis_outage.py`: it asks again every 2 s and logs once a minute).
Nobody can sign out meanwhile: that needs Redis.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.errors import Unavailable
from services.gateway.redis_outage import RedisOutage

logger = logging.getLogger(__name__)

KEY_PREFIX = "appos:session:revoked:"
GENERATION_PREFIX = "appos:user:generation:"
# Longer than any cache of a user record (authn: 5 s); a key that expired reads as a change once.
GENERATION_TTL_SECONDS = 3600


def generation_key(username: str) -> str:
    return GENERATION_PREFIX + hashlib.sha256(username.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SessionView:
    signed_out: bool
    # The user's generation now; None when Redis could not be read (the cache's lifetime decides).
    user_generation: int | None


class Sessions:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._signed_out: dict[str, float] = {}  # jti → expiry (epoch seconds), seen by this process
        self._outage = RedisOutage(logger)

    async def sign_out(self, jti: str, expires_at: float) -> None:
        """Refuse this session from now on, in every gateway process."""
        remaining = int(expires_at - time.time()) + 1
        if remaining <= 0:
            return
        try:
            await self._redis.set(KEY_PREFIX + jti, "1", ex=remaining)
        except RedisError as exc:
            raise Unavailable("signing out needs Redis, which is unavailable; try again shortly") from exc
        self._remember(jti, expires_at)

    async def look_up(self, jti: str, username: str) -> SessionView:
        """Whether `jti` was signed out (by any process) and the generation of its user."""
        until = self._signed_out.get(jti)
        if until is not None and until > time.time():
            return SessionView(signed_out=True, user_generation=None)
        unknown = SessionView(signed_out=False, user_generation=None)
        if self._outage.skipping:
            return unknown
        try:
            revoked, generation = await self._redis.mget([KEY_PREFIX + jti, generation_key(username)])
        except RedisError:
            self._outage.failed("could not read signed-out sessions from redis; using this process's own")
            return unknown
        if revoked is not None:
            ttl = await self._ttl(KEY_PREFIX + jti)
            self._remember(jti, time.time() + ttl)
            return SessionView(signed_out=True, user_generation=None)
        return SessionView(signed_out=False, user_generation=int(generation or 0))

    async def user_changed(self, username: str) -> None:
        """Every process drops its cached record of this user at its next request."""
        if self._outage.skipping:
            return  # the others see it when their cached record is 5 s old
        key = generation_key(username)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, GENERATION_TTL_SECONDS)
                await pipe.execute()
        except RedisError:
            self._outage.failed("could not tell the other gateway processes of a changed user (redis)")

    async def _ttl(self, key: str) -> float:
        try:
            ttl = int(await self._redis.ttl(key))
        except RedisError:
            ttl = -1
        return float(ttl) if ttl > 0 else 60.0  # a key without a TTL: remember it a minute

    def _remember(self, jti: str, until: float) -> None:
        self._signed_out[jti] = until
        now = time.time()
        for old in [j for j, expiry in self._signed_out.items() if expiry <= now]:
            del self._signed_out[old]
