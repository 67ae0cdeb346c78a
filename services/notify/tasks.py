"""The Celery side of notifications: the task the dispatcher queues and the worker runs.

It runs on its own queue (`services.common.queues.NOTIFICATIONS`), so a delivery never waits behind
a deployment or a backup. A task takes the target's name, the notification and a claim id
(primitives only), and calls `Deliverer.run`; a failed attempt that may succeed later is retried
with `countdown` (exponential backoff, at most APPOS_NOTIFY_MAX_ATTEMPTS attempts in all)."""

from __future__ import annotations

from typing import Any

from celery import Celery
from redis import Redis

from services.common.queues import NOTIFY, QUEUE_OF
from services.common.state_client import StateClient
from services.notify.delivery import Deliverer
from services.notify.dispatcher import Enqueue
from services.notify.settings import NotifySettings


def enqueuer(celery: Celery) -> Enqueue:
    def enqueue(target: str, notification: dict[str, Any], claim: str) -> None:
        celery.send_task(NOTIFY, args=[target, notification, claim], queue=QUEUE_OF[NOTIFY])

    return enqueue


def deliverer(settings: NotifySettings, state: StateClient, redis: Redis) -> Deliverer:
    return Deliverer(
        state=state,
        redis=redis,
        max_attempts=settings.max_attempts,
        retry_base_seconds=settings.retry_base_seconds,
        retry_max_seconds=settings.retry_max_seconds,
        timeout_seconds=settings.timeout_seconds,
    )


def register(app: Celery, worker: Deliverer) -> None:
    @app.task(name=NOTIFY, bind=True, acks_late=True, max_retries=None, shared=False)  # type: ignore[untyped-decorator]
    def notify(self: Any, target: str, notification: dict[str, Any], claim: str) -> None:
        wait = worker.run(
            target=target, notification=notification, claim=claim, attempt=self.request.retries + 1
        )
        if wait is not None:
            raise self.retry(countdown=wait)
