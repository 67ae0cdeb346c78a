"""info, health, events."""

from __future__ import annotations

import json
import sys

import httpx
import typer
from rich.markup import escape

from cli.client import CliError, connect
from cli.events import EventStream
from cli.output import JSON_OPTION, fields, out, print_json, status, table, when


def info(as_json: bool = JSON_OPTION) -> None:
    """The server: version, host, Docker, newest event."""
    with connect() as api:
        result = api.get("/api/v1/system/info")
        url = api.url
    if as_json:
        print_json(result)
        return
    fields(
        [
            ("server", url),
            ("version", result.get("version")),
            ("host", result.get("hostname")),
            ("docker", result.get("docker_version")),
            ("python", result.get("python")),
            ("started", when(result.get("started_at"))),
            ("last event", result.get("last_event_seq", "")),
        ]
    )


def health(as_json: bool = JSON_OPTION) -> None:
    """Is every part up? Needs no token; exits 1 when something is down."""
    with connect(need_token=False) as api:
        try:
            response = api.http.get("/health")
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach AppOS at {api.url}: {exc}") from exc
    try:
        result = response.json()
    except json.JSONDecodeError as exc:
        raise CliError(f"/health answered {response.status_code} without JSON") from exc
    if as_json:
        print_json(result)
    else:
        table(
            ["PART", "STATUS", "MESSAGE"],
            (
                [p.get("name"), status(p.get("status", "")), escape(p.get("message", ""))]
                for p in result["parts"]
            ),
        )
    if result.get("status") != "ok":
        raise CliError("AppOS is not healthy", exit_code=1)


def events(
    after: int | None = typer.Option(None, "--after", help="Start after this seq (0: from the first)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON event per line."),
) -> None:
    """Follow the live event log (Ctrl-C stops)."""
    with connect() as api:
        stream = EventStream(api, after)
        try:
            for event in stream:
                if as_json:
                    sys.stdout.write(json.dumps(event.raw) + "\n")
                    sys.stdout.flush()
                    continue
                payload = json.dumps(event.payload, separators=(",", ":"), sort_keys=True)
                created = when(event.raw.get("created_at"))
                out.print(
                    f"{event.seq:>6} {created} [bold]{escape(event.type)}[/bold] "
                    f"{escape(event.subject)} {escape(payload)}",
                    soft_wrap=True,
                )
        except KeyboardInterrupt:
            return
        finally:
            stream.close()


def register(app: typer.Typer) -> None:
    app.command()(info)
    app.command()(health)
    app.command()(events)
