"""One backup or restore at a time: a redis-py `Lock` on `appos:backups:busy` whose token names the
owner (a backup id, or `restore:<backup id>`), so a refusal and the app changes a restore blocks can
say who holds it.

`start` takes it for an hour (`BUSY_QUEUED_TTL`: the job may wait in the queue, and meanwhile nothing
keeps it fresh); the job, once it runs, takes it over with the same token for `BUSY_TTL` and a thread
extends it every quarter of that while the long work runs. A kill -9 leaves a guard that expires by
itself. redis-py's Lock does the atomic parts (set-if-free, extend and release only by the owner).
The update check's one-at-a-time claim is the same kind of lock on its own key (`updates/queue.py`).
"""

from __future__ import annotations

import logging
import threading

from redis import Redis
from redis.exceptions import LockError, LockNotOwnedError, RedisError
from redis.lock import Lock

from services.common.errors import Conflict

logger = logging.getLogger(__name__)

BUSY_KEY = "appos:backups:busy"
BUSY_TTL = 60
# While the job waits in the task queue nothing refreshes the guard: it is taken for this long, and
# the job, once it runs, keeps it with BUSY_TTL.
BUSY_QUEUED_TTL = 3600


def current(redis: Redis, key: str = BUSY_KEY) -> str:
    """Who holds the guard ("" when nobody does)."""
    value = redis.get(key)
    return value.decode() if isinstance(value, bytes) else str(value or "")


class Guard:
    """The guard for `owner`: `claim` it (queued work), or hold it `with` it while the job runs.
    Another `key` makes the same kind of lock for something else (a restore's alive key)."""

    def __init__(
        self,
        redis: Redis,
        owner: str,
        *,
        key: str = BUSY_KEY,
        ttl: int = BUSY_TTL,
        keep_every: float | None = None,
    ) -> None:
        self.redis = redis
        self.owner = owner
        self.key = key
        self.ttl = ttl
        self.keep_every = ttl / 4 if keep_every is None else keep_every
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None
        self._lock = self._make_lock(ttl)

    def _make_lock(self, ttl: int) -> Lock:
        lock = Lock(self.redis, self.key, timeout=ttl, thread_local=False)
        lock.local.token = self.owner.encode()  # the same owner may take over a claim made elsewhere
        return lock

    def claim(self, ttl: int | None = None) -> None:
        """Take the guard for `ttl` seconds (its own by default; again, when this owner holds it),
        else Conflict naming the holder."""
        self._lock = self._make_lock(ttl or self.ttl)
        if self._lock.acquire(blocking=False, token=self.owner):
            return
        try:
            self._lock.reacquire()  # ours already (the job takes over its queued claim): a new TTL
        except LockNotOwnedError:
            raise Conflict(
                f"a backup or restore is running ({current(self.redis, self.key)}); try again when it ends"
            ) from None

    def release(self) -> None:
        try:
            self._lock.release()
        except LockNotOwnedError:
            logger.warning("%s of %s had expired or was taken over before its release", self.key, self.owner)

    def _keep(self) -> None:
        while not self._stop.wait(self.keep_every):
            try:
                self._lock.reacquire()
            except LockNotOwnedError:
                # expired (Redis restarted without it, or the process stalled): take it again if free
                if not self._lock.acquire(blocking=False, token=self.owner):
                    logger.error(
                        "%s of %s is held by %s now", self.key, self.owner, current(self.redis, self.key)
                    )
            except (RedisError, LockError):
                logger.warning("could not extend %s of %s", self.key, self.owner, exc_info=True)

    def __enter__(self) -> Guard:
        self.claim()
        self._keeper = threading.Thread(target=self._keep, name=f"guard-{self.key}", daemon=True)
        self._keeper.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join()
        self.release()
