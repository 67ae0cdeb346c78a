"""`appos validate FILE`: a compose file checked as the server would check it, nothing stored."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from cli.client import ApiError, CliError, connect
from cli.commands.apps import read_file
from cli.output import out, plain, print_json
from cli.refusals import refusal_items

# The server's app-name rule (services/common/names.py): a DNS label of at most 40 characters.
_APP_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
FALLBACK_NAME = "app"


def default_name(file: Path) -> str:
    """The name of the folder holding `file`, as apps are usually kept; "app" when that is not a
    valid app name."""
    folder = file.absolute().parent.name
    return folder if _APP_NAME.fullmatch(folder) else FALLBACK_NAME


def validate_body(*, file: Path, env: Path | None, name: str | None, allow: list[str]) -> dict[str, Any]:
    """The POST /api/v1/apps:validate body, from the command's arguments."""
    body: dict[str, Any] = {
        "name": name or default_name(file),
        "compose": read_file(file, "compose file"),
        "env": read_file(env, ".env file") if env is not None else "",
    }
    if allow:
        body["allow"] = allow
    return body


def refused(exc: ApiError) -> CliError:
    """A 400 as the user reads it: a policy refusal one line per refused thing, with what to do."""
    items = refusal_items(exc.message)
    if items is None:
        return CliError(f"refused: {exc.message}")
    lines = "\n".join(f"  - {item}" for item in items)
    return CliError(
        f"the compose policy refuses the file ({len(items)}):\n{lines}\n"
        "Edit the file, or ask an admin to allow the rule for this app "
        "(`appos policy APP --allow RULE --reason WHY`, or `--allow RULE` at `appos deploy`)."
    )


def validate(
    file: Annotated[Path, typer.Argument(help="The compose file.", show_default=False)],
    env: Annotated[Path | None, typer.Option("--env", help="Its .env file.")] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            "-n",
            help="The app's name (default: the file's folder, or 'app'). If that app exists, the file "
            "is checked as an edit of it, with its exceptions.",
        ),
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow",
            help="An exception a create would carry (admin, new apps only), e.g. privileged or "
            "host_path:/srv/media; repeat.",
        ),
    ] = None,
    as_json: bool = typer.Option(False, "--json", help="Print the server's answer as JSON."),
) -> None:
    """Check a compose file (and .env) as a create would, storing nothing (operator).

    Prints `valid: N services` and any warnings. A refused file exits 1, each refusal on a line.
    """
    body = validate_body(file=file, env=env, name=name, allow=allow or [])
    with connect() as api:
        try:
            reply: dict[str, Any] = api.post("/api/v1/apps:validate", body)
        except ApiError as exc:
            if exc.status != 400:
                raise
            raise refused(exc) from exc
    if as_json:
        print_json(reply)
        return
    services = reply.get("services", [])
    listed = f" ({escape(', '.join(services))})" if services else ""
    out.print(f"[green]valid[/green]: {len(services)} service{'' if len(services) == 1 else 's'}{listed}")
    for warning in reply.get("warnings", []):
        plain(f"warning: {warning}")


def register(app: typer.Typer) -> None:
    app.command()(validate)
