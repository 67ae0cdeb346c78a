"""Backups of the whole install, one module per job:

- `store`: the folder of archives and JSON sidecars (list, get, delete, download, uploads, retention)
- `guard`: one backup or restore at a time (a redis-py Lock naming its owner)
- `create`: making a backup (queued; the worker's job), and which apps' volumes go in
- `restore`: restoring one
- `schedule`: the settings and the schedule's tick
- `internal`: the internal services they call (state's BackupState, proxyctl) and progress events

`make_backups` builds them together as the deployer (and its worker) use them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from services.common.state_client import StateClient
from services.deployer.backups import guard
from services.deployer.backups.create import Creator
from services.deployer.backups.internal import Internal
from services.deployer.backups.restore import Restorer
from services.deployer.backups.schedule import Schedule
from services.deployer.backups.store import Folder, Store, validate_id
from services.deployer.settings import DeployerSettings

__all__ = ["Backups", "make_backups", "validate_id"]


@dataclass
class Backups:
    store: Store
    creator: Creator
    restorer: Restorer
    schedule: Schedule

    def restoring(self) -> str:
        """The backup being restored right now (its guard, or an unfinished restore waiting for
        its job to resume), or "" (also when Redis does not answer: then nothing can be queued
        anyway, and the caller says so)."""
        try:
            owner = guard.current(self.store.redis)
        except RedisError:
            return ""
        if owner.startswith("restore:"):
            return owner.removeprefix("restore:")
        unfinished = self.restorer.unfinished()
        return unfinished[0].backup_id if unfinished else ""

    def set_volume_opt_in(self, app: str, enabled: bool, actor: str) -> None:
        self.creator.set_volume_opt_in(app, enabled, actor)


def make_backups(
    *,
    settings: DeployerSettings,
    state: StateClient,
    redis: Redis,
    docker_factory: Callable[[], Any],
    celery: Any,
) -> Backups:
    """The Backups domain as the deployer and the worker both build it."""
    from services.common.queues import CREATE_BACKUP, QUEUE_OF, RESTORE_BACKUP
    from services.deployer.celery_app import send_deployment

    internal = Internal(settings)
    store = Store(folder=Folder(settings.data / "backups"), redis=redis, state=state, internal=internal)
    creator = Creator(
        settings=settings,
        state=state,
        internal=internal,
        redis=redis,
        store=store,
        docker_factory=docker_factory,
        enqueue=lambda backup_id: celery.send_task(
            CREATE_BACKUP, args=[backup_id], queue=QUEUE_OF[CREATE_BACKUP]
        ),
    )
    restorer = Restorer(
        settings=settings,
        state=state,
        internal=internal,
        redis=redis,
        store=store,
        docker_factory=docker_factory,
        enqueue=lambda restore_id: celery.send_task(
            RESTORE_BACKUP, args=[restore_id], queue=QUEUE_OF[RESTORE_BACKUP]
        ),
        enqueue_deployment=lambda deployment_id, server: send_deployment(celery, deployment_id, server),
    )
    return Backups(
        store=store,
        creator=creator,
        restorer=restorer,
        schedule=Schedule(internal=internal, store=store, creator=creator),
    )
