"""What an app is doing, in the words the console uses (dashboard/src/lib/appState.ts): its status
("2 of 3 running" rather than partially_running), a rollback labelled as one with the versions it
went from and to, an automatic rollback with when and why, a version saved but not deployed."""

from __future__ import annotations

from typing import Any

from cli.output import when


def status_words(app: dict[str, Any]) -> str:
    status = str(app.get("status") or "unknown")
    if status != "partially_running":
        return status
    services = app.get("services", [])
    running = sum(1 for s in services if s.get("state") == "running")
    return f"{running} of {len(services)} running" if services else "partly running"


def deployment_label(deployment: dict[str, Any]) -> str:
    source = deployment.get("source", "")
    if source in ("rollback", "auto_rollback"):
        what = "automatic rollback" if source == "auto_rollback" else "rollback"
        if deployment.get("rollback_to"):
            return f"{what} from v{deployment.get('rollback_from', 0)} to v{deployment['rollback_to']}"
        return what
    return str(deployment.get("action") or "deploy")


def image_words(image: dict[str, Any]) -> str:
    """What one service of a deployment ran: `web  nginx:latest  sha256:0123456789ab` (the digest
    shortened; "built here" when it is the local image ID, which no registry knows)."""
    digest = str(image.get("digest") or "")
    algorithm, _, value = digest.partition(":")
    short = f"{algorithm}:{value[:12]}" if value else "digest unknown"
    local = " (built here)" if digest and digest == image.get("image_id") else ""
    return f"{image.get('service', '')}  {image.get('image', '')}  {short}{local}"


def version_source(version: dict[str, Any]) -> str:
    """A version's origin: "edit", "rollback from v3 to v1", "automatic rollback from v2 to v1"."""
    source = str(version.get("source", ""))
    if source in ("rollback", "auto_rollback") and version.get("rollback_to"):
        return deployment_label(version)
    return source.replace("_", " ")


def auto_rollback_note(app: dict[str, Any]) -> str:
    """'' unless the app's newest version deployment is an automatic rollback."""
    d = app.get("last_version_deployment") or {}
    if d.get("source") != "auto_rollback" or not d.get("rollback_to"):
        return ""
    outcome = {
        "succeeded": "rolled back automatically",
        "failed": "the automatic rollback failed, going back",
    }.get(d.get("status", ""), "rolling back automatically")
    why = f": {d['rollback_cause']}" if d.get("rollback_cause") else ""
    return (
        f"{outcome} to version {d['rollback_to']} ({when(d.get('created_at'))}) "
        f"because version {d.get('rollback_from', 0)} failed to deploy{why}"
    )


def saved_not_deployed(app: dict[str, Any]) -> bool:
    """The current version is saved and no deployment of it was tried."""
    current = int(app.get("current_version", 0))
    if not current or app.get("status") == "deploying":
        return False
    tried = (app.get("last_version_deployment") or {}).get("version")
    if tried is not None and int(tried) >= current:
        return False
    return current != int(app.get("last_good_version", 0))


def version_words(app: dict[str, Any]) -> str:
    """'v3', with the last working version when another one is current, and a saved one not deployed."""
    current, good = int(app.get("current_version", 0)), int(app.get("last_good_version", 0))
    text = f"v{current}"
    if good and good != current:
        text += f" (last working version: {good})"
    if saved_not_deployed(app):
        text += f" — version {current} saved, not deployed (appos redeploy {app.get('name', '')})"
    return text
