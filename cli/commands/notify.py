"""`appos notify [list]|add|remove|test`: where AppOS says that something broke (admin)."""

from __future__ import annotations

import secrets
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape

from cli.client import CliError, connect, seg
from cli.commands.auth import read_secret
from cli.groups import group
from cli.output import JSON_OPTION, note, out, print_json, status, table, when

notify_app = group("Notification targets: webhooks and email (admin).", default=True)
TARGETS = "/api/v1/notifications/targets"


def _where(target: dict[str, Any]) -> str:
    if target.get("kind") == "webhook":
        return str((target.get("webhook") or {}).get("url", ""))
    email = target.get("email") or {}
    return f"{', '.join(email.get('to', []))} via {email.get('host', '')}:{email.get('port', '')}"


@notify_app.command("list")
def list_targets(as_json: bool = JSON_OPTION) -> None:
    """Every target, what it listens to, and how its last delivery went."""
    with connect() as api:
        found = api.get(TARGETS).get("targets", [])
    if as_json:
        print_json(found)
        return
    rows = []
    for t in found:
        last = t.get("last_delivery") or {}
        outcome = f"{status(last['status'])} {when(last.get('at'))}" if last.get("status") else ""
        error = f" — {escape(last['error'])}" if last.get("error") else ""
        rows.append(
            [
                t.get("name"), t.get("kind"), escape(_where(t)), ", ".join(t.get("events", [])),
                "" if t.get("enabled") else "disabled", outcome + error,
            ]
        )  # fmt: skip
    table(["NAME", "KIND", "WHERE", "EVENTS", "", "LAST DELIVERY"], rows)


@notify_app.command("add")
def add(
    name: str = typer.Argument(..., help="A short name (DNS label), e.g. ops-hook."),
    webhook: str = typer.Option("", "--webhook", help="POST signed JSON to this http(s) URL."),
    secret_stdin: bool = typer.Option(
        False, "--secret-stdin", help="Read the webhook's signing secret from stdin (default: generated)."
    ),
    smtp: str = typer.Option("", "--smtp", help="Send email through this SMTP host."),
    port: int = typer.Option(0, "--port", help="SMTP port (default 587, 465 with ssl, 25 with none)."),
    security: str = typer.Option("starttls", "--security", help="starttls, ssl or none."),
    username: str = typer.Option("", "--username", help="SMTP login (the password is asked)."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the SMTP password from stdin."),
    sender: str = typer.Option("", "--from", help="The sender address."),
    to: Annotated[list[str] | None, typer.Option("--to", help="A recipient (repeat for more).")] = None,
    events: Annotated[
        list[str] | None, typer.Option("--event", "-e", help="An event kind (repeat; default: all).")
    ] = None,
    disabled: bool = typer.Option(False, "--disabled", help="Create it switched off."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a webhook (--webhook URL) or an email target (--smtp HOST --from A --to B)."""
    body: dict[str, Any] = {"name": name, "events": events or [], "enabled": not disabled}
    generated = ""
    if bool(webhook) == bool(smtp):
        raise CliError("give either --webhook URL or --smtp HOST")
    if webhook:
        secret = read_secret("Secret", from_stdin=True) if secret_stdin else ""
        if not secret:
            secret = generated = secrets.token_urlsafe(24)
        body["webhook"] = {"url": webhook, "secret": secret}
    else:
        password = read_secret("SMTP password", from_stdin=password_stdin) if username else ""
        body["email"] = {
            "host": smtp, "port": port, "security": security, "username": username, "password": password,
            "from_address": sender, "to": to or [],
        }  # fmt: skip
    with connect() as api:
        created = api.post(TARGETS, body)
    if as_json:
        print_json({**created, **({"generated_secret": generated} if generated else {})})
        return
    out.print(f"Added {created.get('kind')} target {created.get('name')} → {escape(_where(created))}")
    if generated:
        note("Signing secret (shown once; receivers check X-AppOS-Signature with it):")
        sys.stdout.write(generated + "\n")


@notify_app.command("remove")
def remove(name: str = typer.Argument(...)) -> None:
    """Remove a target."""
    with connect() as api:
        api.delete(f"{TARGETS}/{seg(name)}")
    out.print(f"Removed {name}.")


@notify_app.command("test")
def test(name: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """Send a test notification now; exit 1 when it was not delivered."""
    with connect() as api:
        result = api.post(f"{TARGETS}/{seg(name)}:test", {})
    if as_json:
        print_json(result)
    elif result.get("status") == "delivered":
        code = f" (HTTP {result['http_status']})" if result.get("http_status") else ""
        out.print(f"{name}: {status('delivered')}{code}")
    if result.get("status") != "delivered":
        raise CliError(f"{name}: not delivered: {result.get('error') or 'unknown error'}")


def register(app: typer.Typer) -> None:
    app.add_typer(notify_app, name="notify")
