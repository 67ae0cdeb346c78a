"""edit (in $EDITOR, with If-Match), compose, history, diff, rollback."""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from cli import actions
from cli.appstate import version_source
from cli.client import Api, ApiError, CliError, connect, seg
from cli.output import JSON_OPTION, err, fields, note, out, plain, print_json, table, when
from cli.refusals import refusal_items


def editor_command() -> list[str]:
    """$VISUAL or $EDITOR as an argument list (`code --wait` works), else a sensible default."""
    value = os.environ.get("VISUAL") or os.environ.get("EDITOR") or ""
    argv = shlex.split(value)
    if argv:
        return argv
    for candidate in ("editor", "nano", "vi"):
        for folder in os.environ.get("PATH", "").split(os.pathsep):
            if folder and os.access(os.path.join(folder, candidate), os.X_OK):
                return [candidate]
    raise CliError("no editor found: set EDITOR (e.g. export EDITOR=nano)")


def run_editor(path: Path) -> None:
    argv = [*editor_command(), str(path)]
    try:
        result = subprocess.run(argv, check=False)
    except OSError as exc:
        raise CliError(f"cannot run the editor {argv[0]!r}: {exc}") from exc
    if result.returncode != 0:
        raise CliError(f"the editor {argv[0]!r} exited with code {result.returncode}; nothing was changed")


def _compose(api: Api, app: str) -> tuple[dict[str, Any], str]:
    response = api.response("GET", f"/api/v1/apps/{seg(app)}/compose")
    files: dict[str, Any] = response.json()
    return files, response.headers.get("etag") or str(files.get("etag", ""))


def edit(
    app: str = typer.Argument(...),
    env_file: bool = typer.Option(False, "--env", help="Edit the .env file instead of the compose file."),
    message: str = typer.Option("", "--message", "-m", help="The new version's message."),
    deploy: bool = typer.Option(False, "--deploy", help="Deploy the new version right away."),
    overwrite_drift: bool = typer.Option(
        False, "--overwrite-drift", help="Replace files on disk that were changed by hand."
    ),
    wait: bool = actions.WAIT_OPTION,
) -> None:
    """Edit the app's compose file (or .env) in $EDITOR and store it as a new version.

    The upload carries the ETag it started from (If-Match), so a concurrent change is refused rather
    than overwritten. When the server rejects the file, its message is shown and you may edit again."""
    with connect() as api:
        files, etag = _compose(api, app)
        if env_file and files.get("env_masked"):
            raise CliError("the .env is masked for your role (viewer); it cannot be edited")
        if files.get("drift") and not overwrite_drift:
            note(
                "The files on disk were changed by hand; uploading will be refused unless --overwrite-drift."
            )
        key = "env" if env_file else "compose"

        def upload(edited: str) -> dict[str, Any]:
            body = {"compose": files.get("compose", ""), "env": files.get("env", ""), key: edited}
            if message:
                body["message"] = message
            return actions.run(
                api,
                functools.partial(_put, api, app, body, etag, deploy, overwrite_drift),
                wait=wait and deploy,
            )

        reply = edit_until_accepted(
            str(files.get(key, "")), f"{app}{'.env' if env_file else '.yaml'}", upload
        )
    if reply is None:
        out.print("No changes.")
        return
    version = reply.get("version") or {}
    saved = f"Saved {app} v{version.get('number', '?')}"
    out.print(saved + ("" if deploy else " (not deployed yet: appos redeploy, or edit --deploy next time)"))


def edit_until_accepted(
    original: str, filename: str, upload: Callable[[str], dict[str, Any]]
) -> dict[str, Any] | None:
    """Edit a copy of `original` until `upload` accepts it (None: nothing changed). A rejected file
    (400/422) shows the server's message and offers another round with the edit kept."""
    with tempfile.TemporaryDirectory(prefix="appos-edit-") as folder:
        path = Path(folder) / filename
        path.write_text(original)
        os.chmod(path, 0o600)
        while True:
            run_editor(path)
            edited = path.read_text()
            if edited == original:
                return None
            try:
                return upload(edited)
            except ApiError as exc:
                if exc.status not in (400, 422):
                    raise
                if not _again(exc):
                    raise CliError("the edit was not saved") from exc


def _put(
    api: Api, app: str, body: dict[str, Any], etag: str, deploy: bool, overwrite: bool
) -> dict[str, Any]:
    reply: dict[str, Any] = api.put(
        f"/api/v1/apps/{seg(app)}/compose",
        body,
        headers={"If-Match": etag},
        deploy=deploy or None,
        overwrite_drift=overwrite or None,
    )
    return reply


def _again(exc: ApiError) -> bool:
    items = refusal_items(exc.message)
    if items is None:
        err.print(f"[red]The server refused the file:[/red] {escape(exc.message)}")
    else:
        err.print("[red]The compose policy refuses the file:[/red]")
        for item in items:
            err.print(f"  - {escape(item)}", soft_wrap=True)
    try:  # scripts may answer on stdin; end of input means no
        return bool(typer.confirm("Edit again?", default=True, err=True))
    except typer.Abort:
        return False


def compose(
    app: str = typer.Argument(...),
    env_file: bool = typer.Option(False, "--env", help="Print the .env instead."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Print the app's current compose file (or .env; a viewer sees its names, no values)."""
    with connect() as api:
        files, _etag = _compose(api, app)
    if as_json:
        print_json(files)
        return
    text = str(files.get("env" if env_file else "compose", ""))
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")


def history(
    app: str = typer.Argument(...),
    number: int | None = typer.Argument(None, help="Show this version's files."),
    limit: int = typer.Option(50, "--limit", help="At most this many versions."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The app's versions, newest first (or one version's files)."""
    with connect() as api:
        if number is not None:
            version = api.get(f"/api/v1/apps/{seg(app)}/versions/{number}")
            current = 0
        else:
            versions = _versions(api, app, limit)
            current = int(api.get(f"/api/v1/apps/{seg(app)}").get("current_version", 0))
    if number is not None:
        if as_json:
            print_json(version)
            return
        _version_files(version)
        return
    if as_json:
        print_json(versions)
        return
    table(
        ["VERSION", "CREATED", "AUTHOR", "SOURCE", "DEPLOYMENT", "MESSAGE"],
        (
            [
                f"v{v.get('number')}" + (" *" if v.get("number") == current else ""),
                when(v.get("created_at")),
                v.get("author", ""),
                version_source(v),
                v.get("deployment_id", "")[:12],
                escape(v.get("message", "")),
            ]
            for v in versions
        ),
    )


def _versions(api: Api, app: str, limit: int) -> list[dict[str, Any]]:
    versions: list[dict[str, Any]] = []
    token = ""
    while len(versions) < limit:
        page = api.get(f"/api/v1/apps/{seg(app)}/versions", page_token=token)
        versions.extend(page.get("versions", []))
        token = page.get("next_page_token", "")
        if not token:
            break
    return versions[:limit]


def _version_files(version: dict[str, Any]) -> None:
    fields(
        [
            ("version", f"v{version.get('number')} ({version_source(version)})"),
            ("created", f"{when(version.get('created_at'))} by {version.get('author', '')}"),
            ("message", escape(version.get("message", ""))),
            ("hash", version.get("hash", "")),
        ]
    )
    out.print("\n[bold]compose.yaml[/bold]")
    plain(str(version.get("compose", "")).rstrip("\n"))
    out.print("\n[bold].env[/bold]")
    plain(str(version.get("env", "")).rstrip("\n"))


def diff(
    app: str = typer.Argument(...),
    number: int = typer.Argument(..., help="The newer version."),
    against: int | None = typer.Argument(None, help="The older version (default: the one before)."),
    reveal_secrets: bool = typer.Option(False, "--reveal-secrets", help="Unmasked .env (admin)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Unified diff of the compose file and .env between two versions."""
    with connect() as api:
        result = api.get(
            f"/api/v1/apps/{seg(app)}/versions/{number}/diff",
            against=against,
            reveal_secrets=reveal_secrets or None,
        )
    if as_json:
        print_json(result)
        return
    compose_diff, env_diff = result.get("compose_diff", ""), result.get("env_diff", "")
    if not compose_diff and not env_diff:
        out.print(f"v{result.get('from_version')} and v{result.get('to_version')} are the same.")
        return
    for text in (compose_diff, env_diff):
        for line in text.splitlines():
            _diff_line(line)


def _diff_line(line: str) -> None:
    style = ""
    if line.startswith(("+++", "---")):
        style = "bold"
    elif line.startswith("+"):
        style = "green"
    elif line.startswith("-"):
        style = "red"
    elif line.startswith("@@"):
        style = "cyan"
    out.print(line, style=style or None, markup=False, highlight=False, soft_wrap=True)


def rollback(
    app: str = typer.Argument(...),
    number: int = typer.Argument(..., help="The version to go back to."),
    message: str = typer.Option("", "--message", "-m"),
    wait: bool = actions.WAIT_OPTION,
) -> None:
    """Store a new version equal to version N and deploy it (history is never rewritten)."""
    body: dict[str, Any] = {"version": number}
    if message:
        body["message"] = message
    with connect() as api:
        reply = actions.run(api, lambda: api.post(f"/api/v1/apps/{seg(app)}/rollback", body), wait=wait)
    version = reply.get("version") or {}
    out.print(f"{app} is at v{version.get('number', '?')} (= v{number}).")


def register(app: typer.Typer) -> None:
    app.command()(edit)
    app.command()(compose)
    app.command()(history)
    app.command()(diff)
    app.command()(rollback)
