"""Celery's task and queue names: one queue per kind of job, so a failure notification never waits
behind a long backup and a backup never delays a deployment. Imported by whoever queues (the deployer's
servicer, the backup schedule, the notification dispatcher), by the worker that consumes each queue
with its own concurrency, and by the gateway's metrics (which read the queues' Redis lists and must not
import Celery). Plain strings only: importing this module costs nothing."""

from __future__ import annotations

# Queues (each a Redis list of the same name on the broker).
DEPLOYMENTS = "appos.deployments"
BACKUPS = "appos.backups"
NOTIFICATIONS = "appos.notifications"
UPDATES = "appos.updates"  # update checks: never behind a deployment
ALL = (DEPLOYMENTS, BACKUPS, NOTIFICATIONS, UPDATES)

# Tasks, each on one queue.
RUN_DEPLOYMENT = "appos.run_deployment"
CREATE_BACKUP = "appos.create_backup"
RESTORE_BACKUP = "appos.restore_backup"
NOTIFY = "appos.notify"
CHECK_UPDATES = "appos.check_updates"
QUEUE_OF = {
    RUN_DEPLOYMENT: DEPLOYMENTS,
    CREATE_BACKUP: BACKUPS,
    RESTORE_BACKUP: BACKUPS,
    NOTIFY: NOTIFICATIONS,
    CHECK_UPDATES: UPDATES,
}
