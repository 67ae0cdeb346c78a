"""`appos update APP [--to SERVICE=TAG …] [--major] [--no-volumes]` and `appos update --all`: update an
app's images (issue 19) and follow the update's steps live, as `appos deploy` does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.markup import escape

from cli import actions
from cli.client import Api, CliError, connect, seg
from cli.output import err, out, print_json

# The kinds an update takes by default (a major needs --major).
DEFAULT_KINDS = ("digest", "patch", "minor")


def parse_targets(pairs: list[str]) -> dict[str, str]:
    """`web=1.1.0` → {"web": "1.1.0"}; a pair without `=` or with an empty side is refused in words."""
    targets: dict[str, str] = {}
    for pair in pairs:
        service, sep, tag = pair.partition("=")
        if not sep or not service.strip() or not tag.strip():
            raise CliError(f"--to wants SERVICE=TAG (e.g. --to web=1.1.0), not {pair!r}")
        if service.strip() in targets:
            raise CliError(f"--to names {service.strip()} twice")
        targets[service.strip()] = tag.strip()
    return targets


def update_body(*, targets: dict[str, str], major: bool, volumes: bool) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if targets:
        body["services"] = targets
    if major:
        body["allow_major"] = True
    if not volumes:
        body["snapshot_volumes"] = False
    return body


def apps_with_updates(updates: list[dict[str, Any]], *, major: bool) -> list[str]:
    """The apps an `--all` updates: those with a digest, patch or minor finding (or a major, with --major)."""
    kinds = (*DEFAULT_KINDS, "major") if major else DEFAULT_KINDS
    return sorted({str(u.get("app", "")) for u in updates if u.get("kind") in kinds and u.get("app")})


@dataclass
class Result:
    app: str
    ok: bool
    message: str
    deployment: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"app": self.app, "ok": self.ok, "message": self.message, "deployment": self.deployment}


def summary(results: list[Result]) -> str:
    """`updated 2 of 3 apps; failed: shop (rolled back to v3: web was unhealthy)`."""
    failed = [r for r in results if not r.ok]
    head = f"updated {len(results) - len(failed)} of {len(results)} apps"
    if not failed:
        return head
    return head + "; failed: " + "; ".join(f"{r.app} ({r.message})" for r in failed)


def _update_one(api: Api, app: str, body: dict[str, Any], *, wait: bool, as_json: bool) -> Result:
    console = err if as_json else out

    def announce(reply: dict[str, Any]) -> None:
        deployment = reply.get("deployment") or {}
        console.print(f"Updating {escape(app)} (deployment {escape(str(deployment.get('id', '?')))})")

    try:
        reply = actions.run(
            api, lambda: api.post(f"/api/v1/apps/{seg(app)}/update", body), wait=wait, console=console,
            before_wait=announce,
        )  # fmt: skip
    except CliError as exc:
        return Result(app=app, ok=False, message=exc.message, deployment={})
    deployment = reply.get("deployment") or {}
    return Result(app=app, ok=True, message=str(deployment.get("status", "")), deployment=deployment)


def update(
    app: str = typer.Argument("", help="The app to update (leave out with --all)."),
    to: Annotated[
        list[str] | None,
        typer.Option(
            "--to",
            help="SERVICE=TAG: update this service to this tag (default: the newest that is not a "
            "new major version); repeat for more services.",
        ),  # fmt: skip
    ] = None,
    major: bool = typer.Option(
        False, "--major", help="Allow a new major version (it may need changes: read its release notes)."
    ),
    volumes: bool = typer.Option(
        True,
        "--volumes/--no-volumes",
        help="Copy the app's backed-up volumes first, to restore them if the update fails (default).",
    ),  # fmt: skip
    every: bool = typer.Option(
        False, "--all", help="Update every app the last check found updates for, one after the other."
    ),
    wait: bool = actions.WAIT_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON (progress on stderr)."),
) -> None:
    """Update an app's images and follow the steps: snapshot, pull, redeploy, health check. If the new
    version is not healthy, the app goes back to the previous one and this exits 1 saying why."""
    targets = parse_targets(to or [])
    if every and (app or targets):
        raise CliError("--all updates every app with updates: leave out APP and --to")
    if not every and not app:
        raise CliError(
            "name the app to update, or use --all (see appos updates for what the last check found)"
        )
    body = update_body(targets=targets, major=major, volumes=volumes)
    with connect() as api:
        if not every:
            result = _update_one(api, app, body, wait=wait, as_json=as_json)
            if as_json:
                print_json(result.to_json())
            if not result.ok:
                raise CliError(result.message)
            return
        names = apps_with_updates(api.get("/api/v1/updates").get("updates", []), major=major)
        if not names:
            err.print("no app has updates (appos updates check --wait checks again)")
            if as_json:
                print_json([])
            return
        results = [_update_one(api, name, body, wait=wait, as_json=as_json) for name in names]
    if as_json:
        print_json([r.to_json() for r in results])
    else:
        for r in results:
            outcome = "[green]ok[/green]" if r.ok else f"[red]failed[/red] — {escape(r.message)}"
            err.print(f"  {escape(r.app)}: {outcome}")
    line = summary(results)
    if any(not r.ok for r in results):
        raise CliError(line)
    (err if as_json else out).print(escape(line))


def register(app: typer.Typer) -> None:
    app.command("update")(update)
