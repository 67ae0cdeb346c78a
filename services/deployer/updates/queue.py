"""At most one update check at a time, queued or running: a request meanwhile (POST
/api/v1/updates/check again, the schedule's tick) joins it and gets its job's id instead of queueing
a second check of every app.

    request → claim `appos:updates:check` for a new id → queued on `appos.updates` (a new job)
                                                      ↘ held: the id that holds it (joined)
    the task → `run(id, check)`: takes the claim over, keeps it while the check runs, releases it
               → the findings recorded, `updates_checked` naming the id

The backups' one-at-a-time guard does the Redis part (`backups/guard.py`: a lock whose token is the
job's id). A queued job holds it for QUEUED_TTL (nothing refreshes it in the queue), a running one
for RUNNING_TTL, extended while it runs: a lost message or a killed worker never blocks checks for
longer than that.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from redis import Redis

from services.common.errors import Conflict, Unavailable
from services.deployer.backups.guard import Guard, current

logger = logging.getLogger(__name__)
T = TypeVar("T")

KEY = "appos:updates:check"
QUEUED_TTL = 3600
RUNNING_TTL = 60


@dataclass(frozen=True)
class CheckJob:
    id: str
    joined: bool  # True: it was already queued or running when asked for


class CheckQueue:
    def __init__(self, *, redis: Redis, send: Callable[[str, str, str], None]) -> None:
        self.redis = redis
        self.send = send  # (actor, origin, job id): queues the task

    def request(self, *, actor: str, origin: str) -> CheckJob:
        """The check queued or running now, or a new one queued."""
        for _ in range(3):  # the job holding the claim may end between our try and our look
            job = uuid.uuid4().hex
            guard = Guard(self.redis, job, key=KEY)
            try:
                guard.claim(QUEUED_TTL)
            except Conflict:
                held = current(self.redis, KEY)
                if held:
                    return CheckJob(held, joined=True)
                continue
            try:
                self.send(actor, origin, job)
            except BaseException:
                guard.release()  # not queued: the next request must not join it
                raise
            return CheckJob(job, joined=False)
        raise Unavailable("update checks start and end too fast to join one; ask again")

    def run(self, job: str, check: Callable[[], T]) -> T | None:
        """`check()` as the job `job`, holding the claim while it runs; None, without running it,
        when another job holds the claim (this one's expired while it waited in the queue, and that
        one checks). A message queued before jobs had ids has none: it just runs. The claim is
        released before the caller records the findings, so whoever joined this job is told of its
        end (`updates_checked` naming it) after joining, never before."""
        if not job:
            return check()
        guard = Guard(self.redis, job, key=KEY, ttl=RUNNING_TTL)
        try:
            guard.claim()
        except Conflict:
            logger.warning(
                "update check %s skipped: check %s is queued or running", job, current(self.redis, KEY)
            )
            return None
        with guard:
            return check()
