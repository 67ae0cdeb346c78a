"""`appos updates [list] [--json]` and `appos updates check [--wait]`: image updates (issue 19);
`appos updates registries`, `login REGISTRY --username U --password-stdin`, `logout REGISTRY`: the
registry logins the check uses (admin; the password is read from stdin and never shown)."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.markup import escape

from cli.client import Api, CliError, connect, seg
from cli.events import EventStream
from cli.groups import group
from cli.output import JSON_OPTION, note, print_json, table, when

updates_app = group("Newer images for the apps' services, found by the update check.", default=True)
CHECKED = "updates_checked"


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def _rows(updates: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for u in updates:
        current = escape(u.get("current_tag") or _short(u.get("current_digest", "")))
        if u.get("kind") == "template":  # the store template the app came from changed (issue 20)
            change = "the store template changed; redeploying with it is your choice (--json has the diff)"
        elif u.get("kind") == "unknown":
            change = f"{current} → ? ({escape(u.get('reason', ''))})"
        else:
            target = u.get("candidate_tag", "")
            if u.get("kind") == "digest":
                target = f"{target} ({_short(u.get('candidate_digest', ''))})"
            change = f"{current} → {escape(target)}"
        rows.append(
            [escape(u.get("app", "")), escape(u.get("service", "")), escape(u.get("image", "")), change,
             u.get("kind", "")]
        )  # fmt: skip
    return rows


def _show(updates: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(updates)
        return
    table(["app", "service", "image", "current → candidate", "kind"], _rows(updates))
    checked = max((u.get("checked_at", "") for u in updates), default="")
    if checked:
        note(f"checked {when(checked)}")


@updates_app.command("list")
def list_updates(
    app: str = typer.Argument("", help="Only this app."),
    as_json: bool = JSON_OPTION,
) -> None:
    """What the last check found: patch, minor, major, a new digest of the same tag, or unknown."""
    with connect() as api:
        path = f"/api/v1/apps/{seg(app)}/updates" if app else "/api/v1/updates"
        updates = api.get(path).get("updates", [])
    _show(updates, as_json)


def _queued(reply: dict[str, Any]) -> str:
    """What the check request did, in words."""
    job = reply.get("id", "")
    if reply.get("joined"):
        return f"an update check is already queued or running (job {job}): waiting on that one"
    return f"update check queued (job {job})"


def _check_and_wait(api: Api) -> dict[str, Any]:
    stream = EventStream(api)
    try:
        stream.open()  # subscribed before the check is queued: its end cannot be missed
        reply = api.post("/api/v1/updates/check", {})
        note(_queued(reply))
        job = reply.get("id", "")
        for event in stream:  # its own end, not an update's re-check of one app
            if event.type == CHECKED and (not job or event.payload.get("job") == job):
                return event.payload
    finally:
        stream.close()
    raise CliError("the events stream ended before the check did")


@updates_app.command("check")
def check(
    wait: bool = typer.Option(False, "--wait", help="Wait until the check ended, then list what it found."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check every app's images against their registries now (operator)."""
    with connect() as api:
        if not wait:
            note(_queued(api.post("/api/v1/updates/check", {})))
            return
        counts = _check_and_wait(api)
        updates = api.get("/api/v1/updates").get("updates", [])
    note(
        f"checked {counts.get('apps', 0)} apps: {counts.get('updates', 0)} updates"
        f" ({counts.get('new', 0)} new), {counts.get('unknown', 0)} unknown"
    )
    _show(updates, as_json)


@updates_app.command("registries")
def registries(as_json: bool = JSON_OPTION) -> None:
    """The stored registry logins (admin): registry, username, when set — never the password."""
    with connect() as api:
        logins = api.get("/api/v1/updates/registries").get("registries", [])
    if as_json:
        print_json(logins)
        return
    table(
        ["registry", "username", "password", "updated"],
        [[escape(r.get("registry", "")), escape(r.get("username", "")),
          "set" if r.get("password_set") else "-", when(r.get("updated_at", ""))] for r in logins],
    )  # fmt: skip


@updates_app.command("login")
def login(
    registry: str = typer.Argument(..., help="docker.io, ghcr.io, 127.0.0.1:5000, …"),
    username: str = typer.Option(..., "--username", "-u"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password or token from stdin (required)."
    ),
) -> None:
    """Store the login the update check uses for REGISTRY (admin)."""
    if not password_stdin:
        raise CliError("give the password on stdin: --password-stdin")
    password = sys.stdin.read().rstrip("\r\n")
    with connect() as api:
        api.put(
            f"/api/v1/updates/registries/{seg(registry)}",
            {"username": username, "password": password},
            headers={},
        )
    note(f"login stored for {registry}")


@updates_app.command("logout")
def logout(registry: str = typer.Argument(..., help="The registry whose login to forget.")) -> None:
    """Forget REGISTRY's stored login: the check asks it anonymously again (admin)."""
    with connect() as api:
        api.delete(f"/api/v1/updates/registries/{seg(registry)}")
    note(f"login removed for {registry}")


def register(app: typer.Typer) -> None:
    app.add_typer(updates_app, name="updates")
