"""The Docker labels AppOS reads and writes, and the Compose project each app gets: one place for
the names every service matches containers, volumes and events by (the deployer, proxyctl, the
terminal, the gateway's logs and the notifications). Plain strings: importing this costs nothing."""

from __future__ import annotations

from collections.abc import Mapping

# Compose's own labels on the containers and volumes of a project.
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
NUMBER_LABEL = "com.docker.compose.container-number"
VOLUME_LABEL = "com.docker.compose.volume"
# AppOS's own: the short-lived container that copies volumes in and out of backups.
BACKUP_HELPER_LABEL = "appos.backup-helper"

# An app's Compose project is `appos-<app>`.
PROJECT_PREFIX = "appos-"


def project_name(app: str) -> str:
    return f"{PROJECT_PREFIX}{app}"


def app_of_project(project: str) -> str:
    """The app whose Compose project this is, or "" for a project AppOS did not make."""
    return project.removeprefix(PROJECT_PREFIX) if project.startswith(PROJECT_PREFIX) else ""


def is_oneoff(labels: Mapping[str, str]) -> bool:
    """A `docker compose run` container, not one of the app's services."""
    return labels.get(ONEOFF_LABEL) == "True"
