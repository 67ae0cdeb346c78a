"""Each user's open streams counted across every gateway process, in Redis (`open_streams.py` asks).

A user's streams are one sorted set, `appos:streams:<user hash>`: a member per open stream
(`<lease id>|<terminal session id>`), scored by the time it lapses. Taking a place is one script —
drop the lapsed members, count, add when under the limit — so two processes cannot both take the
last place. The process that holds a stream renews it every re-check round, and gives it back when
the stream ends; the streams of a process that was killed lapse after `lapse_seconds`. The time is
Redis's own (`TIME`), so the processes' clocks do not matter.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping

from redis.asyncio import Redis

KEY_PREFIX = "appos:streams:"

# KEYS[1] the user's set; ARGV: member, limit, lapse seconds, the terminal session re-attached ("")
# → -1 when the place was taken, else how many the user holds.
_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
local held = redis.call('ZCARD', KEYS[1])
if held >= tonumber(ARGV[2]) then
  local suffix = '|' .. ARGV[4]
  local again = false
  if ARGV[4] ~= '' then
    for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
      if string.sub(member, -string.len(suffix)) == suffix then again = true break end
    end
  end
  if not again then return held end
end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[3]), ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 1)
return -1
"""

# KEYS[1] the user's set; ARGV: lapse seconds, then for each stream its member now and the member
# Redis knows it by ("" when it was taken while Redis was down): renewed when still there (a stream
# given back meanwhile stays gone), renamed when its terminal session became known, added again.
_RENEW = """
local now = redis.call('TIME')
local lapse = tonumber(now[1]) + tonumber(now[2]) / 1000000 + tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  local name, known = ARGV[i], ARGV[i + 1]
  if known == '' then
    redis.call('ZADD', KEYS[1], lapse, name)
  elseif known == name then
    redis.call('ZADD', KEYS[1], 'XX', lapse, name)
  elseif redis.call('ZREM', KEYS[1], known) == 1 then
    redis.call('ZADD', KEYS[1], lapse, name)
  end
end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])) + 1)
return 0
"""


def user_key(username: str) -> str:
    return KEY_PREFIX + hashlib.sha256(username.encode()).hexdigest()[:32]


def member(lease_id: str, session: str) -> str:
    return f"{lease_id}|{session}"


class StreamCounts:
    def __init__(self, redis: Redis, *, lapse_seconds: float) -> None:
        self._redis = redis
        self.lapse_seconds = lapse_seconds
        self._take = redis.register_script(_TAKE)
        self._renew = redis.register_script(_RENEW)

    async def take(self, username: str, name: str, *, limit: int, session: str = "") -> int | None:
        """None when the stream `name` now holds a place; else how many the user holds (the limit
        or more). A terminal session attached again (`session`) takes its place whatever the count.
        Raises RedisError."""
        held = int(
            await self._take(keys=[user_key(username)], args=[name, limit, self.lapse_seconds, session])
        )
        return None if held < 0 else held

    async def give_back(self, username: str, names: list[str]) -> None:
        """Free the place of a stream known by any of `names`. Raises RedisError."""
        await self._redis.zrem(user_key(username), *names)

    async def renew(self, streams: Mapping[str, Iterable[tuple[str, str]]]) -> None:
        """Per user, each held stream's (member now, member as Redis knows it or ""): they lapse
        `lapse_seconds` from now. One script per user, in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for username, names in streams.items():
                args: list[str | float] = [self.lapse_seconds]
                for name, old in names:
                    args.extend((name, old))
                await self._renew(keys=[user_key(username)], args=args, client=pipe)
            await pipe.execute()


def lapse_for(recheck_seconds: float) -> float:
    """Long enough for a few missed renewals, short enough that a killed process's streams free
    their places soon."""
    return float(max(30, math.ceil(3 * recheck_seconds)))
