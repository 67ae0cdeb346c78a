from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from services.common import queues
from services.common.settings import CommonSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


class DeployerSettings(CommonSettings):
    # Extra template folders, searched after the built-in catalog (a template name found twice
    # keeps the first).
    catalog_dirs: list[Path] = []
    builtin_catalog: Path = REPO_ROOT / "catalog"
    docker_host: str = "unix:///var/run/docker.sock"
    # How long one deployment may run before its compose process is killed.
    deploy_timeout_seconds: int = 600
    # The Celery worker consumes each queue (services/common/queues.py) with its own threads, so one
    # kind of job never waits behind another: deployments (of different apps; one app is one at a
    # time), backups and restores, notification deliveries. They replace APPOS_WORKER_CONCURRENCY.
    worker_concurrency_deployments: int = Field(default=2, ge=1)
    worker_concurrency_backups: int = Field(default=1, ge=1)
    worker_concurrency_notifications: int = Field(default=2, ge=1)
    # Update checks (issue 19): one at a time, never behind a deployment.
    worker_concurrency_updates: int = Field(default=1, ge=1)
    # More servers (issue 21): each remote server's deployments have a queue of their own, consumed by
    # this many threads (a slow or unreachable server holds up only its own deployments).
    worker_concurrency_per_server: int = Field(default=2, ge=1)
    # A running deployment whose worker has not said it is alive for this long is taken back.
    heartbeat_seconds: int = 5
    heartbeat_ttl_seconds: int = 20
    # Tries of one deployment (the first run plus retries after a lost worker).
    max_attempts: int = 2
    reconcile_interval_seconds: int = 10
    rpc_timeout_seconds: float = 10.0
    # The image of the short-lived container that copies named volumes in and out of backups
    # (it is only created, never started; any local image works). Empty: an empty image that
    # AppOS imports itself (volumes.EMPTY_HELPER).
    backup_helper_image: str = ""
    # How often the deployer looks whether the scheduled backup (and the update check) is due.
    backup_schedule_check_seconds: float = 30.0
    # When the image update check runs (issue 19), in the backup schedule's forms (UTC):
    # "daily@HH:MM", "every:N" (hours, 1-168) or a cron line; "" turns it off. Default: daily.
    update_check_schedule: str = "every:24"
    # An update's health gate: a service without a healthcheck must still run this long after
    # `up --wait` (services with one are gated by it).
    update_settle_seconds: float = Field(default=10.0, ge=0)
    # App stores (issue 20): how long fetching, converting and checking one store may take, and the
    # largest archive a store may download.
    store_import_timeout_seconds: float = Field(default=600.0, gt=0)
    store_max_archive_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    # More servers (issue 21): how often each server's engine is asked whether it answers (several
    # failed probes in a row mark it down).
    server_probe_seconds: float = Field(default=10.0, gt=0)
    # Tests only: a restore's job waits at the start of this step (once) until told to go on
    # (`backups/restore.py`), so a test can kill a part at a known step.
    test_restore_pause_at: str = ""
    # AppOS's own ports (the same APPOS_* variables the gateway and proxyctl read): an app may not
    # publish them.
    port: int = 8080
    grpc_port: int = 8081
    proxy_http_port: int = 80
    proxy_https_port: int = 443

    @property
    def apps_dir(self) -> Path:
        return self.data / "apps"

    @property
    def stores_dir(self) -> Path:
        return self.data / "stores"

    @property
    def celery_broker(self) -> str:
        return f"redis+socket://{self.socket_path('redis')}"

    def own_ports(self) -> dict[int, str]:
        """AppOS's own host ports, each with what it is."""
        named = {
            self.proxy_https_port: "its HTTPS proxy port",
            self.proxy_http_port: "its HTTP proxy port",
            self.grpc_port: "its public gRPC port",
            self.port: "its web console and API port",
        }
        return {port: what for port, what in named.items() if port}

    def worker_concurrency(self) -> dict[str, int]:
        """Each queue → the threads that consume it."""
        return {
            queues.DEPLOYMENTS: self.worker_concurrency_deployments,
            queues.BACKUPS: self.worker_concurrency_backups,
            queues.NOTIFICATIONS: self.worker_concurrency_notifications,
            queues.UPDATES: self.worker_concurrency_updates,
        }

    @field_validator("update_check_schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        from services.common.errors import InvalidArgument
        from services.deployer.backups.schedule import validate_schedule  # the backup schedule's forms

        try:
            return validate_schedule(value.strip())
        except InvalidArgument as exc:  # pydantic reports a ValueError as the setting's error
            raise ValueError(f"APPOS_UPDATE_CHECK_SCHEDULE: {exc.message}") from exc

    def template_dirs(self) -> list[Path]:
        return [self.builtin_catalog, *self.catalog_dirs]
