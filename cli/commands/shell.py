"""`appos shell [APP[/SERVICE]]`: a terminal on the host (admin) or in an app's container."""

from __future__ import annotations

import typer

from cli import config
from cli.client import CliError, connect, seg
from cli.terminal import open_terminal


def target_for(where: str | None, services: list[str] | None = None) -> str:
    """`host`, or `app:<app>/<service>`; an app without a service needs exactly one service."""
    if not where:
        return "host"
    app, _, service = where.partition("/")
    if not app:
        raise CliError("give APP or APP/SERVICE")
    if not service:
        choices = sorted(set(services or []))
        if len(choices) != 1:
            listed = ", ".join(choices) or "none running"
            raise CliError(f"{app} has several services ({listed}): say which, as {app}/SERVICE")
        service = choices[0]
    return f"app:{app}/{service}"


def shell(
    where: str | None = typer.Argument(
        None, metavar="[APP[/SERVICE]]", help="Default: a host shell (admin)."
    ),
    session: str = typer.Option("", "--session", help="Attach again to a detached session of yours."),
    totp_code: str = typer.Option(
        "", "--totp-code", help="A current two-factor code (a login with 2FA needs one; asked at a tty)."
    ),
) -> None:
    """An interactive terminal: your tty goes raw, window size changes follow. Exit the shell to end."""
    if session and where:
        raise CliError("give APP[/SERVICE] or --session, not both")
    services: list[str] | None = None
    if where and "/" not in where:
        with connect() as api:
            app = api.get(f"/api/v1/apps/{seg(where)}")
        services = [str(s.get("service")) for s in app.get("services", []) if s.get("service")]
    try:
        settings = config.load()
    except config.ConfigError as exc:
        raise CliError(str(exc)) from exc
    code = open_terminal(settings, target_for(where, services), session_id=session, totp_code=totp_code)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command()(shell)
