"""What two gateway processes share through Redis (a real redis-server): signed-out sessions, users
changed through either, and each user's open streams. Two objects on one Redis stand for two
processes; the whole stack with two gateway processes is tests/integration/test_gateways.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from services.common.errors import RateLimited, Unavailable
from services.gateway.context import Caller
from services.gateway.open_streams import OpenStreams
from services.gateway.sessions import Sessions
from services.gateway.stream_counts import StreamCounts, user_key
from tests.harness import RedisServer, free_port, start_redis, stop_pid_process


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _nobody_there() -> Redis:
    """A Redis client whose server is gone (nothing listens on the port), without redis-py's retries."""
    return Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))


async def _caller_auth(token: str) -> Caller:
    return Caller(username=token.split(":")[0], role="admin")


def _streams(redis: Redis, *, per_user: int, lapse: float = 30.0, recheck: float = 60.0) -> OpenStreams:
    counts = StreamCounts(redis, lapse_seconds=lapse)
    return OpenStreams(_caller_auth, per_user=per_user, recheck_seconds=recheck, counts=counts)


async def _eventually(check: Callable[[], Awaitable[bool]], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def test_a_sign_out_on_one_process_is_seen_by_the_other_at_once(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        one, two = Redis.from_url(redis_server.url), Redis.from_url(redis_server.url)
        first, second = Sessions(one), Sessions(two)
        jti, user = uuid.uuid4().hex, _name("u")
        assert not (await second.look_up(jti, user)).signed_out
        await first.sign_out(jti, time.time() + 60)
        assert (await second.look_up(jti, user)).signed_out
        assert (await second.look_up(uuid.uuid4().hex, user)).signed_out is False  # only that session
        await one.aclose()
        await two.aclose()

    asyncio.run(scenario())


def test_a_user_changed_through_one_process_moves_its_generation_for_the_other(
    redis_server: RedisServer,
) -> None:
    async def scenario() -> None:
        one, two = Redis.from_url(redis_server.url), Redis.from_url(redis_server.url)
        first, second = Sessions(one), Sessions(two)
        user, other = _name("u"), _name("u")
        before = (await second.look_up(uuid.uuid4().hex, user)).user_generation
        other_before = (await second.look_up(uuid.uuid4().hex, other)).user_generation
        await first.user_changed(user)
        after = (await second.look_up(uuid.uuid4().hex, user)).user_generation
        assert before is not None and after is not None and after != before
        assert (await second.look_up(uuid.uuid4().hex, other)).user_generation == other_before
        await one.aclose()
        await two.aclose()

    asyncio.run(scenario())


def test_without_redis_a_process_refuses_what_it_signed_out_itself_and_cannot_sign_out(
    tmp_path: Path,
) -> None:
    server = start_redis(tmp_path / "redis")

    async def scenario() -> None:
        redis = Redis.from_url(server.url, retry=Retry(NoBackoff(), 0))
        sessions = Sessions(redis)
        mine = uuid.uuid4().hex
        await sessions.sign_out(mine, time.time() + 60)
        stop_pid_process(server.proc)
        with pytest.raises(Unavailable, match="signing out needs Redis"):
            await sessions.sign_out(uuid.uuid4().hex, time.time() + 60)
        assert (await sessions.look_up(mine, "ada")).signed_out  # it remembers its own
        view = await sessions.look_up(uuid.uuid4().hex, "ada")
        assert not view.signed_out and view.user_generation is None  # the cache's lifetime decides
        await sessions.user_changed("ada")  # logged, not raised: the change itself was made
        await redis.aclose()

    try:
        asyncio.run(scenario())
    finally:
        stop_pid_process(server.proc)


def test_the_stream_limit_counts_the_streams_of_both_processes(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        one, two = Redis.from_url(redis_server.url), Redis.from_url(redis_server.url)
        a, b = _streams(one, per_user=3), _streams(two, per_user=3)
        vera = Caller(username=_name("vera"), role="viewer")
        first = await a.take(vera, "t1", min_role="viewer")
        await b.take(vera, "t2", min_role="viewer")
        await a.take(vera, "t3", min_role="viewer")
        for process in (a, b):
            with pytest.raises(RateLimited, match=f"{vera.username} has 3 streams open .*the limit is 3"):
                await process.take(vera, "t4", min_role="viewer")
        await b.take(Caller(username=_name("otto"), role="viewer"), "t5", min_role="viewer")  # per user
        await a.release(first)
        await b.take(vera, "t4", min_role="viewer")  # the place given back on one is free on the other
        assert a.count(vera.username) == 1 and b.count(vera.username) == 2
        for process in (a, b):
            await process.close()
        await one.aclose()
        await two.aclose()

    asyncio.run(scenario())


def test_the_places_of_a_process_that_died_lapse_and_the_living_ones_are_renewed(
    redis_server: RedisServer,
) -> None:
    async def scenario() -> None:
        one, two = Redis.from_url(redis_server.url), Redis.from_url(redis_server.url)
        dead, alive = _streams(one, per_user=2, lapse=1.0), _streams(two, per_user=2, lapse=1.0, recheck=0.2)
        vera = Caller(username=_name("vera"), role="viewer")
        await dead.take(vera, "t1", min_role="viewer")  # never renewed, never given back: it was killed
        kept = await alive.take(vera, "t2", min_role="viewer")  # renewed every 0.2 s
        with pytest.raises(RateLimited):
            await alive.take(vera, "t3", min_role="viewer")

        async def free_again() -> bool:
            try:
                await alive.release(await alive.take(vera, "t3", min_role="viewer"))
            except RateLimited:
                return False
            return True

        await _eventually(free_again, timeout=10, what="the dead process's place to lapse")
        assert await two.zscore(user_key(vera.username), f"{kept.id}|") is not None  # the living one stays
        await alive.close()
        await dead.close()
        await one.aclose()
        await two.aclose()

    asyncio.run(scenario())


def test_a_terminal_attached_again_on_the_other_process_takes_its_place(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        one, two = Redis.from_url(redis_server.url), Redis.from_url(redis_server.url)
        a, b = _streams(one, per_user=1), _streams(two, per_user=1)
        ada = Caller(username=_name("ada"), role="admin")
        detached = await a.take(ada, "t1", min_role="admin")
        detached.session = "sess1"
        await a.renew()  # the round after the session opened: Redis knows it by its session
        with pytest.raises(RateLimited):
            await b.take(ada, "t2", min_role="admin")
        await b.take(ada, "t2", min_role="admin", session="sess1")
        await a.release(detached)  # the attach ended the earlier connection
        assert await two.zcard(user_key(ada.username)) == 1
        for process in (a, b):
            await process.close()
        await one.aclose()
        await two.aclose()

    asyncio.run(scenario())


def test_without_redis_each_process_counts_its_own_and_counts_them_again_when_it_is_back(
    redis_server: RedisServer,
) -> None:
    async def scenario() -> None:
        gone = _nobody_there()
        streams = _streams(gone, per_user=2)
        vera = Caller(username=_name("vera"), role="viewer")
        first = await streams.take(vera, "t1", min_role="viewer")
        await streams.take(vera, "t2", min_role="viewer")
        with pytest.raises(RateLimited, match="has 2 streams open"):
            await streams.take(vera, "t3", min_role="viewer")
        await streams.release(first)
        await streams.close()
        await gone.aclose()

        back = Redis.from_url(redis_server.url)
        streams = _streams(back, per_user=2)
        lease = await streams.take(vera, "t1", min_role="viewer")
        lease.counted = ""  # as if taken while Redis was down
        await back.delete(user_key(vera.username))
        await streams.renew()
        assert await back.zcard(user_key(vera.username)) == 1
        await streams.close()
        await back.aclose()

    asyncio.run(scenario())
