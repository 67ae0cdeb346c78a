"""Celery's task and queue names: one queue per kind of job, so a failure notification never waits
behind a long backup and a backup never delays a deployment. Imported by whoever queues (the deployer's
servicer, the backup schedule, the notification dispatcher), by the worker that consumes each queue
with its own concurrency, and by the gateway's metrics (which read the queues' Redis lists and must not
import Celery). Plain strings only: importing this module costs nothing."""

from __future__ import annotations

# Queues (each a Redis list of the same name on the broker).
DEPLOYMENTS = "appos.deployments"  # deployments of apps on this machine (server `local`)
BACKUPS = "appos.backups"
NOTIFICATIONS = "appos.notifications"
UPDATES = "appos.updates"  # update checks: never behind a deployment
ALL = (DEPLOYMENTS, BACKUPS, NOTIFICATIONS, UPDATES)
# The per-server deployment queues the worker consumes now (a Redis set of queue names, kept by the
# worker as servers come and go), so that the metrics find them without asking the deployer.
SERVER_QUEUES = "appos:queues:servers"

# Tasks, each on one queue.
RUN_DEPLOYMENT = "appos.run_deployment"
CREATE_BACKUP = "appos.create_backup"
RESTORE_BACKUP = "appos.restore_backup"
NOTIFY = "appos.notify"
CHECK_UPDATES = "appos.check_updates"


def deployments_of(server: str) -> str:
    """The queue of deployments of apps on `server` (issue 21): `appos.deployments` for this
    machine's (`local`, or empty), `appos.deployments.<server>` for a remote server's, so that a
    slow or unreachable server never holds up another's deployments."""
    return DEPLOYMENTS if server in ("", "local") else f"{DEPLOYMENTS}.{server}"


QUEUE_OF = {
    RUN_DEPLOYMENT: DEPLOYMENTS,
    CREATE_BACKUP: BACKUPS,
    RESTORE_BACKUP: BACKUPS,
    NOTIFY: NOTIFICATIONS,
    CHECK_UPDATES: UPDATES,
}
