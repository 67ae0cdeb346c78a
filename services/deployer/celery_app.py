"""The Celery app shared by the deployer (which queues) and the worker (which runs).

Celery's real semantics, and how AppOS lives with them: tasks are acked late, so a task whose
worker process dies before finishing is not acknowledged; on the Redis broker it would come back
only after `visibility_timeout`. AppOS does not wait for that: the worker keeps an "alive" key per
running deployment, and the deployer's reconciler takes back any deployment whose key expired —
retrying it (up to APPOS_MAX_ATTEMPTS) or failing it with a reason. The task itself is idempotent:
it only starts a deployment that is still `pending`, so a late redelivery does nothing.

The task and queue names live in `services/common/queues.py`; each task is routed to its kind's
queue there (a deployment to the queue of its app's server: `send_deployment`), and the worker
(`worker.py`) consumes each queue with threads of its own.
"""

from __future__ import annotations

from celery import Celery

from services.common import queues
from services.deployer.settings import DeployerSettings


def send_deployment(celery: Celery, deployment_id: str, server: str) -> None:
    """Queue a deployment on its app's server's queue (`queues.deployments_of`)."""
    celery.send_task(queues.RUN_DEPLOYMENT, args=[deployment_id], queue=queues.deployments_of(server))


def make_celery(settings: DeployerSettings) -> Celery:
    app = Celery("appos", broker=settings.celery_broker)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=False,
        task_ignore_result=True,
        # a task's own messages (a retry) go to its kind's queue like the first one
        task_routes={task: {"queue": queue} for task, queue in queues.QUEUE_OF.items()},
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        broker_transport_options={"visibility_timeout": settings.deploy_timeout_seconds * 2 + 60},
        enable_utc=True,
    )
    return app
