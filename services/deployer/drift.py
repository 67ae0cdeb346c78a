"""Is an edit based on what is there now? It is not when the version its editor read (its ETag,
sent back as If-Match: etag(), refuse_stale()) is no longer the app's current one, or when someone
edited the app's files on disk by hand since that version (hand_edits(), refuse_unadopted())."""

from __future__ import annotations

import re
from pathlib import Path

from appos.v1 import apps_pb2, state_pb2
from services.common.errors import Conflict
from services.common.state_client import StateClient

Files = tuple[str, str]  # (compose.yaml, .env)


def etag(version: int, content_hash: str) -> str:
    return f'"v{version}-{content_hash[:16]}"'


def parse_etag(value: str) -> int:
    """The version number in an ETag; 0 when it is not one of ours."""
    match = re.fullmatch(r'(?:W/)?"?v(\d+)-[0-9a-f]{16}"?', value.strip())
    return int(match.group(1)) if match else 0


def refuse_stale(*, app: str, current: int, if_match: str) -> None:
    """Conflict unless If-Match names the app's current version."""
    if parse_etag(if_match) != current:
        raise Conflict(
            f"stale edit: {app} is at v{current} and If-Match {if_match or '(none)'} "
            "is not its ETag; GET the compose again and reapply your change"
        )


def on_disk(folder: Path) -> Files | None:
    """The app folder's compose.yaml and .env; None while either is missing."""
    try:
        return (folder / "compose.yaml").read_text(), (folder / ".env").read_text()
    except FileNotFoundError:
        return None


def hand_edits(*, state: StateClient, folder: Path, app: str, current: Files) -> Files | None:
    """The files on disk when someone edited them by hand: they differ from the current version
    and no deployment is about to replace them. A queued or running deployment writes its
    version before Compose runs, so until then the disk holds the previous one: not an edit."""
    disk = on_disk(folder)
    if disk is None or disk == current:
        return None
    unfinished: apps_pb2.ListDeploymentsReply = state.stub.ListDeployments(
        state_pb2.StateListDeploymentsRequest(app=app, statuses=["pending", "running"], page_size=1),
    )
    return None if unfinished.deployments else disk


def refuse_unadopted(*, app: str, current: int, disk: Files | None, edit: Files, overwrite: bool) -> None:
    """Conflict when an edit would silently replace hand edits: unless it takes the files on disk as
    they are, or the editor says to overwrite them."""
    if disk is not None and disk != edit and not overwrite:
        raise Conflict(
            f"the files of {app} on disk were changed by hand since v{current}: GET its "
            "compose to see them (disk_compose, disk_env); send them as your edit to keep them, "
            "or set overwrite_drift=true"
        )
