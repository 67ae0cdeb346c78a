"""`appos backup create|list|show|download|delete|restore FILE|settings`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from cli.client import Api, ApiError, CliError, connect, seg
from cli.groups import group
from cli.output import JSON_OPTION, fields, note, out, print_json, size, status, table, when

backup_app = group("Backups of the whole install (admin): create, list, download, restore.", default=True)
POLL_SECONDS = 0.5
RESTORE_TIMEOUT = 3600.0


def _show(backup: dict[str, Any]) -> None:
    fields(
        [
            ("backup", backup.get("id")),
            ("status", status(backup.get("status", ""))),
            ("reason", escape(backup.get("reason", ""))),
            ("message", escape(backup.get("message", ""))),
            ("created", when(backup.get("created_at"))),
            ("size", size(backup.get("size_bytes"))),
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
                size(b.get("size_bytes")),
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
    note(f"Saved {target} ({size(target.stat().st_size)}).")


@backup_app.command("delete")
def delete(backup_id: str = typer.Argument(...)) -> None:
    """Delete a stored backup."""
    with connect() as api:
        api.delete(f"/api/v1/backups/{seg(backup_id)}")
    out.print(f"Deleted {backup_id}.")


def _follow(api: Api, restore: dict[str, Any]) -> dict[str, Any] | None:
    """Poll the restore until it ends, saying each step as it starts; None when the restore ended
    this login meanwhile (it replaces the users: every session ends once the database is back)."""
    said: set[tuple[str, str]] = set()
    while True:
        for step in restore.get("steps", []):
            key = (step.get("name", ""), step.get("status", ""))
            if key[1] in ("running", "done") and key not in said:
                said.add(key)
                note(f"  {key[0]}: {'…' if key[1] == 'running' else 'done'}")
        if restore.get("status") in ("succeeded", "failed"):
            return restore
        time.sleep(POLL_SECONDS)
        try:
            restore = api.get(f"/api/v1/backups/restores/{seg(restore['id'])}")
        except ApiError as exc:
            if exc.status == 401:
                return None
            raise


@backup_app.command("restore")
def restore(
    archive: Annotated[
        Path | None, typer.Argument(help="An archive file (uploaded, checked, then restored).")
    ] = None,
    backup_id: str = typer.Option("", "--id", help="Restore a stored backup instead of a file."),
    force: bool = typer.Option(False, "--force", help="Replace an install that already has apps or users."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the restore's steps until it ends."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Restore a backup: users, tokens, apps, versions, domains, settings; then redeploy every app.
    Exits 1 when the restore fails, naming the step."""
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
        restore = reply.get("restore", {})
        backup = reply.get("backup", {}).get("id", "")
        if wait and not as_json:
            note(f"Restoring {backup} ({restore.get('id', '')}):")
        ended = _follow(api, restore) if wait else restore
    if as_json:
        print_json({**reply, "restore": ended or restore})
    elif ended is None:
        note(
            f"The restore replaced the users, which ended this login. Log in again with the restored "
            f"users' passwords and follow it with `appos backup restore-status {restore.get('id', '')}`."
        )
    elif ended.get("status") == "succeeded":
        apps = ended.get("apps", [])
        out.print(f"Restored {backup}: {len(apps)} apps redeploying.")
        for deployment in ended.get("deployment_ids", []):
            out.print(f"  deployment {deployment}")
        note("Follow them with `appos deployments`. Log in again with the restored users' passwords.")
    elif ended.get("status") != "failed":
        out.print(f"Restore {restore.get('id', '')} of {backup} is {ended.get('status')}.")
    if ended is not None and ended.get("status") == "failed":
        raise CliError(f"the restore failed at step {ended.get('step')}: {ended.get('reason', '')}")


@backup_app.command("restore-status")
def restore_status(
    restore_id: str = typer.Argument(...),
    wait: bool = typer.Option(False, "--wait/--no-wait", help="Follow it until it ends."),
    as_json: bool = JSON_OPTION,
) -> None:
    """A restore's steps and outcome. Exits 1 when it failed."""
    with connect() as api:
        restore = api.get(f"/api/v1/backups/restores/{seg(restore_id)}")
        if wait:
            restore = _follow(api, restore) or restore
    if as_json:
        print_json(restore)
    else:
        fields(
            [
                ("restore", restore.get("id")),
                ("backup", restore.get("backup_id")),
                ("status", status(restore.get("status", ""))),
                ("step", restore.get("step", "")),
                ("reason", escape(restore.get("reason", ""))),
                ("deployments", ", ".join(restore.get("deployment_ids", []))),
            ]
        )
    if restore.get("status") == "failed":
        raise typer.Exit(1)


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
