"""The one-backup-at-a-time guard against a real Redis: a queued backup holds it long enough to wait
behind deployments; the running job holds it briefly and refreshes it; a second claim is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from services.common.errors import Conflict
from services.deployer.backups import BUSY_KEY, BUSY_QUEUED_TTL, BUSY_TTL, Busy
from tests.harness import RedisServer


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[Redis]:
    client = Redis.from_url(redis_server.url)
    client.delete(BUSY_KEY)
    yield client
    client.delete(BUSY_KEY)
    client.close()


def test_a_queued_backup_holds_the_guard_until_its_job_takes_it_over(redis: Redis) -> None:
    Busy(redis, "queued-one").claim(BUSY_QUEUED_TTL)  # what `start` does before queueing the job
    assert BUSY_TTL < redis.ttl(BUSY_KEY) <= BUSY_QUEUED_TTL  # outlives a long wait in the queue
    with pytest.raises(Conflict, match="queued-one"):
        Busy(redis, "another").claim()
    with Busy(redis, "queued-one"):  # the job runs: same owner, the running TTL, refreshed
        assert 0 < redis.ttl(BUSY_KEY) <= BUSY_TTL
        assert Busy.current(redis) == "queued-one"
    assert redis.exists(BUSY_KEY) == 0, "the finished job frees the guard"


def test_a_job_whose_guard_was_taken_meanwhile_is_refused(redis: Redis) -> None:
    Busy(redis, "restore-1").claim()
    with pytest.raises(Conflict, match="restore-1"), Busy(redis, "late-backup"):
        pass
    assert Busy.current(redis) == "restore-1", "the refused job leaves the other's guard alone"
