"""`appos backup create|list|show|download|delete|restore FILE|settings`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from cli.client import Api, CliError, connect, seg
from cli.groups import group
from cli.output import JSON_OPTION, fields, note, out, print_json, status, table, when

backup_app = group("Backups of the whole install (admin): create, list, download, restore.", default=True)
POLL_SECONDS = 0.5
RESTORE_TIMEOUT = 3600.0


def _size(value: Any) -> str:
    size = float(value or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def _show(backup: dict[str, Any]) -> None:
    fields(
        [
            ("backup", backup.get("id")),
            ("status", status(backup.get("status", ""))),
            ("reason", escape(backup.get("reason", ""))),
            ("message", escape(backup.get("message", ""))),
            ("created", when(backup.get("created_at"))),
            ("size", _size(backup.get("size_bytes"))),
            ("apps", ", ".join(a.get("name", "") for a in backup.get("apps", []))),
            ("volumes", "yes" if backup.get("include_volumes") else "no"),
            ("origin", backup.get("origin", "")),
        ]
    )


def _wait(api: Api, backup: dict[str, Any]) -> dict[str, Any]:
    while backup.get("status") == "running":
        time.sleep(POLL_SECONDS)
        backup = api.get(f"/api/v1/backups/{seg(backup['id'])}")
    return backup


@backup_app.command("create")
def create(
    volumes: bool = typer.Option(False, "--volumes", help="Include the volumes of apps that opted in."),
    message: str = typer.Option("", "--message", "-m"),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until the archive is written."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Back up the database, every app's files, certificates (and volumes with --volumes)."""
    with connect() as api:
        backup = api.post("/api/v1/backups", {"include_volumes": volumes, "message": message})
        if wait:
            backup = _wait(api, backup)
    if as_json:
        print_json(backup)
    else:
        _show(backup)
    if backup.get("status") == "failed":
        raise typer.Exit(1)


@backup_app.command("list")
def list_backups(as_json: bool = JSON_OPTION) -> None:
    """Stored backups, newest first."""
    with connect() as api:
        backups = api.get("/api/v1/backups").get("backups", [])
    if as_json:
        print_json(backups)
        return
    table(
        ("backup", "status", "created", "size", "apps", "message"),
        (
            (
                b.get("id"),
                status(b.get("status", "")),
                when(b.get("created_at")),
                _size(b.get("size_bytes")),
                len(b.get("apps", [])),
                escape(b.get("message", "")),
            )
            for b in backups
        ),
    )


@backup_app.command("show")
def show(backup_id: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """One backup."""
    with connect() as api:
        backup = api.get(f"/api/v1/backups/{seg(backup_id)}")
    if as_json:
        print_json(backup)
    else:
        _show(backup)


@backup_app.command("download")
def download(
    backup_id: str = typer.Argument(...),
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Default: ./<id>.tar.gz")] = None,
) -> None:
    """Save a backup's archive."""
    target = output or Path(f"{backup_id}.tar.gz")
    partial = target.with_name(target.name + ".part")
    with connect() as api, api.stream(f"/api/v1/backups/{seg(backup_id)}/download") as response:
        with open(partial, "wb") as data:
            for chunk in response.iter_bytes():
                data.write(chunk)
    partial.replace(target)
    note(f"Saved {target} ({_size(target.stat().st_size)}).")


@backup_app.command("delete")
def delete(backup_id: str = typer.Argument(...)) -> None:
    """Delete a stored backup."""
    with connect() as api:
        api.delete(f"/api/v1/backups/{seg(backup_id)}")
    out.print(f"Deleted {backup_id}.")


@backup_app.command("restore")
def restore(
    archive: Annotated[
        Path | None, typer.Argument(help="An archive file (uploaded, checked, then restored).")
    ] = None,
    backup_id: str = typer.Option("", "--id", help="Restore a stored backup instead of a file."),
    force: bool = typer.Option(False, "--force", help="Replace an install that already has apps or users."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Restore a backup: users, tokens, apps, versions, domains, settings; then redeploy every app."""
    if (archive is None) == (not backup_id):
        raise CliError("give an archive FILE or --id ID")
    with connect() as api:
        if archive is not None:
            if not archive.is_file():
                raise CliError(f"{archive} is not a file")
            with open(archive, "rb") as data:
                reply = api.call(
                    "POST",
                    "/api/v1/backups/restore",
                    content=data,
                    params={"force": "true"} if force else None,
                    headers={"Content-Type": "application/gzip"},
                    timeout=RESTORE_TIMEOUT,
                )
        else:
            reply = api.call(
                "POST",
                "/api/v1/backups/restore",
                json={"backup_id": backup_id, "force": force},
                timeout=RESTORE_TIMEOUT,
            )
    if as_json:
        print_json(reply)
        return
    apps = reply.get("apps", [])
    out.print(f"Restored {reply.get('backup', {}).get('id', '')}: {len(apps)} apps redeploying.")
    for app, deployment in zip(apps, reply.get("deployment_ids", []), strict=False):
        out.print(f"  {app}: deployment {deployment}")
    note("Follow them with `appos deployments`. Log in again with the restored users' passwords.")


@backup_app.command("settings")
def settings(
    retention: int | None = typer.Option(None, "--retention", help="Backups kept (0 keeps all)."),
    schedule: str | None = typer.Option(
        None, "--schedule", help='"daily@HH:MM" (UTC), "every:N" (hours) or "" for none.'
    ),
    volumes: bool | None = typer.Option(
        None, "--volumes/--no-volumes", help="Scheduled backups with volumes."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show or change retention and the schedule."""
    changes: dict[str, Any] = {
        key: value
        for key, value in (("retention", retention), ("schedule", schedule), ("include_volumes", volumes))
        if value is not None
    }
    with connect() as api:
        if changes:
            reply = api.call("PUT", "/api/v1/backups/settings", json=changes)
        else:
            reply = api.get("/api/v1/backups/settings")
    if as_json:
        print_json(reply)
        return
    fields(
        [
            ("retention", reply.get("retention", 0)),
            ("schedule", reply.get("schedule") or "none"),
            ("with volumes", "yes" if reply.get("include_volumes") else "no"),
            ("next run", when(reply.get("next_run")) if reply.get("next_run") else ""),
        ]
    )


def register(app: typer.Typer) -> None:
    app.add_typer(backup_app, name="backup")
