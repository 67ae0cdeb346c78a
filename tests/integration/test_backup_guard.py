"""The one-backup-at-a-time guard against a real Redis: a queued backup holds it long enough to wait
behind deployments; the running job takes it over, holds it briefly and extends it; a second claim is
refused, naming the holder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from services.common.errors import Conflict
from services.deployer.backups import guard
from services.deployer.backups.guard import BUSY_KEY, BUSY_QUEUED_TTL, BUSY_TTL, Guard
from tests.harness import RedisServer, wait_for


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[Redis]:
    client = Redis.from_url(redis_server.url)
    client.delete(BUSY_KEY)
    yield client
    client.delete(BUSY_KEY)
    client.close()


def test_a_queued_backup_holds_the_guard_until_its_job_takes_it_over(redis: Redis) -> None:
    Guard(redis, "queued-one").claim(BUSY_QUEUED_TTL)  # what `start` does before queueing the job
    assert BUSY_TTL < redis.ttl(BUSY_KEY) <= BUSY_QUEUED_TTL  # outlives a long wait in the queue
    with pytest.raises(Conflict, match="queued-one"):
        Guard(redis, "another").claim()
    with Guard(redis, "queued-one"):  # the job runs: same owner, the running TTL
        assert 0 < redis.ttl(BUSY_KEY) <= BUSY_TTL
        assert guard.current(redis) == "queued-one"
    assert redis.exists(BUSY_KEY) == 0, "the finished job frees the guard"


def test_a_job_whose_guard_was_taken_meanwhile_is_refused(redis: Redis) -> None:
    Guard(redis, "restore-1").claim()
    with pytest.raises(Conflict, match="restore-1"), Guard(redis, "late-backup"):
        pass
    assert guard.current(redis) == "restore-1", "the refused job leaves the other's guard alone"


def test_a_guard_that_expired_under_a_running_job_is_taken_again_and_never_freed_for_another(
    redis: Redis,
) -> None:
    """The keeper extends the guard while the job runs; when the key vanished (Redis restarted
    without it), it takes it again; the job's end frees only its own guard."""
    with Guard(redis, "long-job", keep_every=0.05):
        redis.delete(BUSY_KEY)  # what a Redis restart without the key looks like
        wait_for(lambda: guard.current(redis) == "long-job", timeout=10, what="the keeper to take it again")
        assert 0 < redis.ttl(BUSY_KEY) <= BUSY_TTL
        redis.set(BUSY_KEY, "someone-else")
    assert guard.current(redis) == "someone-else", "the job's end left another owner's guard alone"
