"""The Celery side of notifications: the task the dispatcher queues and the worker runs.

A task takes the target's name, the notification and a claim id (primitives only), and calls
`Deliverer.run`; a failed attempt that may succeed later is retried with `countdown` (exponential
backoff, at most APPOS_NOTIFY_MAX_ATTEMPTS attempts in all)."""

from __future__ import annotations

from typing import Any

from celery import Celery
from redis import Redis

from services.common.state_client import StateClient
from services.deployer.celery_app import QUEUE
from services.deployer.settings import DeployerSettings
from services.notify.delivery import Deliverer
from services.notify.dispatcher import Enqueue

NOTIFY = "appos.notify"


def enqueuer(celery: Celery) -> Enqueue:
    def enqueue(target: str, notification: dict[str, Any], claim: str) -> None:
        celery.send_task(NOTIFY, args=[target, notification, claim], queue=QUEUE)

    return enqueue


def deliverer(settings: DeployerSettings, state: StateClient, redis: Redis) -> Deliverer:
    return Deliverer(
        state=state,
        redis=redis,
        max_attempts=settings.notify_max_attempts,
        retry_base_seconds=settings.notify_retry_base_seconds,
        retry_max_seconds=settings.notify_retry_max_seconds,
        timeout_seconds=settings.notify_timeout_seconds,
    )


def register(app: Celery, worker: Deliverer) -> None:
    @app.task(name=NOTIFY, bind=True, acks_late=True, max_retries=None)  # type: ignore[untyped-decorator]
    def notify(self: Any, target: str, notification: dict[str, Any], claim: str) -> None:
        wait = worker.run(
            target=target, notification=notification, claim=claim, attempt=self.request.retries + 1
        )
        if wait is not None:
            raise self.retry(countdown=wait)
