"""One update check at a time (`updates/queue.py`) against a real Redis: a request while a check is
queued or running gets that check's id and queues nothing; its task holds the claim while it runs
and frees it after; a check that could not be queued, or that another holds, leaves no claim behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from services.deployer.updates.queue import KEY, QUEUED_TTL, RUNNING_TTL, CheckQueue
from tests.harness import RedisServer

pytestmark = pytest.mark.integration


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[Redis]:
    client = Redis.from_url(redis_server.url)
    client.delete(KEY)
    yield client
    client.delete(KEY)
    client.close()


def _queue(redis: Redis) -> tuple[CheckQueue, list[tuple[str, str, str]]]:
    sent: list[tuple[str, str, str]] = []
    return CheckQueue(redis=redis, send=lambda *task: sent.append(task)), sent


def test_a_request_while_a_check_is_queued_or_running_joins_it(redis: Redis) -> None:
    queue, sent = _queue(redis)
    first = queue.request(actor="alice", origin="request")
    assert not first.joined and sent == [("alice", "request", first.id)]
    assert QUEUED_TTL - 5 < redis.ttl(KEY) <= QUEUED_TTL  # it may wait in the queue a long time

    queued = queue.request(actor="bob", origin="schedule")
    assert (queued.id, queued.joined) == (first.id, True) and len(sent) == 1

    def check() -> str:
        assert 0 < redis.ttl(KEY) <= RUNNING_TTL  # taken over: a killed worker frees it soon
        running = queue.request(actor="carol", origin="request")
        assert (running.id, running.joined) == (first.id, True) and len(sent) == 1
        return "checked"

    assert queue.run(first.id, check) == "checked"
    assert redis.get(KEY) is None

    after = queue.request(actor="alice", origin="request")
    assert not after.joined and after.id != first.id and sent[-1] == ("alice", "request", after.id)


def test_a_check_that_fails_frees_the_next_request(redis: Redis) -> None:
    queue, sent = _queue(redis)
    job = queue.request(actor="alice", origin="request")

    def broken() -> None:
        raise RuntimeError("the registry client blew up")

    with pytest.raises(RuntimeError):
        queue.run(job.id, broken)
    assert not queue.request(actor="alice", origin="request").joined


def test_a_request_that_could_not_be_queued_leaves_no_claim(redis: Redis) -> None:
    def broker_down(actor: str, origin: str, job: str) -> None:
        raise ConnectionError("the broker does not answer")

    with pytest.raises(ConnectionError):
        CheckQueue(redis=redis, send=broker_down).request(actor="alice", origin="request")
    assert redis.get(KEY) is None


def test_a_job_whose_claim_another_holds_does_not_run(redis: Redis) -> None:
    """Its claim expired while it waited in the queue and a newer check was queued: that one checks."""
    queue, _sent = _queue(redis)
    newer = queue.request(actor="alice", origin="request")
    ran: list[str] = []
    assert queue.run("expired-job", lambda: ran.append("expired-job")) is None
    assert ran == [] and redis.get(KEY) == newer.id.encode()
    assert queue.run("", lambda: ran.append("old message")) is None  # no id (queued before ids): runs
    assert ran == ["old message"] and redis.get(KEY) == newer.id.encode()
