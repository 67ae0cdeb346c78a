"""The `appos` command line: REST and WebSockets of an AppOS gateway, for people and scripts.

`appos login` stores the URL and a token (XDG config, 0600); `APPOS_URL`/`APPOS_TOKEN` override them.
Read commands take `--json`; errors print the server's message on stderr and exit 1.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from cli.client import CliError
from cli.commands import (
    admin,
    apps,
    auth,
    backups,
    catalog,
    deployments,
    notify,
    proxy,
    servers,
    shell,
    stores,
    system,
    update,
    updates,
    validate,
    versions,
)
from cli.output import err


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="appos",
        help="Deploy, edit, roll back, expose and operate AppOS apps from the command line.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    for module in (
        auth,
        catalog,
        stores,
        apps,
        validate,
        versions,
        deployments,
        proxy,
        shell,
        admin,
        system,
        servers,
        backups,
        notify,
        updates,
        update,
    ):
        module.register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    app = build_app()
    try:
        app(args=argv, prog_name="appos")
    except CliError as exc:
        err.print(f"[red]error:[/red] {escape(exc.message)}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
