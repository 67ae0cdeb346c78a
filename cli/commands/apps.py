"""deploy, list, status, logs, start/stop/restart/redeploy/remove, options, policy."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from cli import actions
from cli.appstate import auto_rollback_note, deployment_label, status_words, version_words
from cli.client import Api, CliError, connect, seg
from cli.output import (
    JSON_OPTION,
    STATUS_STYLES,
    err,
    fields,
    note,
    out,
    plain,
    print_json,
    status,
    table,
    when,
)
from cli.refusals import RULES_HELP


def parse_settings(pairs: list[str]) -> dict[str, str]:
    """`--set KEY=VALUE` options as a dict (the value may contain '=' and be empty)."""
    settings: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--set wants KEY=VALUE, got {pair!r}")
        settings[key.strip()] = value
    return settings


def read_file(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read the {what} {path}: {exc}") from exc


def create_body(
    *,
    template: str | None,
    name: str | None,
    settings: list[str],
    compose: Path | None,
    env: Path | None,
    message: str,
    allow: list[str],
    auto_rollback: bool,
) -> dict[str, Any]:
    """The POST /api/v1/apps body, from `deploy`'s arguments."""
    body: dict[str, Any] = {}
    if compose is not None:
        if template:
            raise CliError("give a TEMPLATE or --compose, not both (name the app with --name)")
        if settings:
            raise CliError("--set is for templates; put values in the --env file")
        if not name:
            raise CliError("--compose needs --name")
        body["compose"] = read_file(compose, "compose file")
        body["env"] = read_file(env, ".env file") if env is not None else ""
    else:
        if env is not None:
            raise CliError("--env goes with --compose; for a template use --set KEY=VALUE")
        if not template:
            raise CliError("give a TEMPLATE (see appos catalog) or --compose FILE")
        body["template"] = template
        body["settings"] = parse_settings(settings)
    body["name"] = name or (template.rpartition("/")[2] if template else template)  # STORE/NAME: NAME
    if message:
        body["message"] = message
    if allow:
        body["allow"] = allow
    if not auto_rollback:
        body["auto_rollback"] = False
    return body


def deploy(
    template: str | None = typer.Argument(None, help="A catalog template (see appos catalog)."),
    name: str | None = typer.Option(None, "--name", "-n", help="The app's name (default: the template's)."),
    settings: Annotated[
        list[str] | None, typer.Option("--set", "-s", help="KEY=VALUE for a template setting; repeat.")
    ] = None,
    compose: Annotated[
        Path | None, typer.Option("--compose", help="Deploy this compose file instead.")
    ] = None,
    env: Annotated[Path | None, typer.Option("--env", help="The .env file for --compose.")] = None,
    message: str = typer.Option("", "--message", "-m", help="Version 1's message."),
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow", help="A compose policy exception (admin), e.g. host_path:/srv/media; repeat."
        ),
    ] = None,
    auto_rollback: bool = typer.Option(True, "--auto-rollback/--no-auto-rollback"),
    server: str = typer.Option(
        "", "--server", help="The server to run it on (see appos servers); default local."
    ),
    wait: bool = actions.WAIT_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON (progress on stderr)."),
) -> None:
    """Deploy a new app from a template (or a compose file) and follow its progress."""
    body = create_body(
        template=template,
        name=name,
        settings=settings or [],
        compose=compose,
        env=env,
        message=message,
        allow=allow or [],
        auto_rollback=auto_rollback,
    )
    if server:
        body["server"] = server
    console = err if as_json else out

    def announce(reply: dict[str, Any]) -> None:
        generated = reply.get("generated") or {}
        if generated and not as_json:
            out.print("[bold]Generated secrets (shown once — store them now):[/bold]")
            for key, value in sorted(generated.items()):
                plain(f"  {key}={value}")
        deployment = reply.get("deployment") or {}
        console.print(f"Deploying {escape(body['name'])} (deployment {deployment.get('id', '?')})")

    with connect() as api:
        try:
            reply = actions.run(
                api, lambda: api.post("/api/v1/apps", body), wait=wait, console=console, before_wait=announce
            )
        except CliError:
            if as_json:
                note("(the failed deployment's details: appos deployments show ID --json)")
            raise
    if as_json:
        print_json(reply)


def _ports(app: dict[str, Any]) -> str:
    ports = [p for s in app.get("services", []) for p in s.get("ports", [])]
    return ", ".join(p.split("->")[0] for p in ports)


def list_apps(as_json: bool = JSON_OPTION) -> None:
    """Your apps and their status."""
    with connect() as api:
        apps = api.get("/api/v1/apps").get("apps", [])
    if as_json:
        print_json(apps)
        return
    rows = []
    for app in apps:
        services = app.get("services", [])
        up = sum(1 for s in services if s.get("state") == "running")
        rows.append(
            [
                app.get("name"),
                status_cell(app),
                app.get("template", "") or "(compose)",
                f"v{app.get('current_version', 0)}",
                f"{up}/{len(services)}",
                _ports(app),
                app.get("server", "") or "local",
            ]
        )
    table(["NAME", "STATUS", "TEMPLATE", "VERSION", "UP", "PORTS", "SERVER"], rows)


def app_status(app: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """One app: status, containers and its latest deployments."""
    with connect() as api:
        info = api.get(f"/api/v1/apps/{seg(app)}")
        deployments = api.get("/api/v1/deployments", app=app, page_size=5).get("deployments", [])
    if as_json:
        print_json({**info, "recent_deployments": deployments})
        return
    message = f" — {escape(info['status_message'])}" if info.get("status_message") else ""
    rollback = auto_rollback_note(info)
    fields(
        [
            ("app", info.get("name")),
            ("status", status_cell(info) + message),
            *([("rollback", escape(rollback))] if rollback else []),
            ("template", info.get("template") or "(compose)"),
            ("version", escape(version_words(info))),
            ("auto rollback", "on" if info.get("auto_rollback") else "off"),
            ("policy exceptions", ", ".join(info.get("policy_exceptions", [])) or "none"),
            ("created", when(info.get("created_at"))),
        ]
    )
    out.print()
    table(
        ["SERVICE", "STATE", "HEALTH", "EXIT", "PORTS"],
        (
            [
                s.get("service"),
                status(s.get("state", "")),
                status(s.get("health", "")),
                s.get("exit_code", 0) if s.get("state") != "running" else "",
                ", ".join(s.get("ports", [])),
            ]
            for s in info.get("services", [])
        ),
        title="containers",
    )
    out.print()
    deployment_table(deployments, title="recent deployments")


def status_cell(app: dict[str, Any]) -> str:
    """The app's status in words ("2 of 3 running"), coloured by its status."""
    style = STATUS_STYLES.get(str(app.get("status", "")))
    words = escape(status_words(app))
    return f"[{style}]{words}[/{style}]" if style else words


def deployment_table(deployments: list[dict[str, Any]], *, title: str | None = None) -> None:
    table(
        ["ID", "ACTION", "STATUS", "VERSION", "BY", "CREATED", "REASON"],
        (
            [
                d.get("id", "")[:12],
                deployment_label(d),
                status(d.get("status", "")),
                f"v{d['version']}" if d.get("version") else "",
                d.get("actor", ""),
                when(d.get("created_at")),
                escape(d.get("reason", "")),
            ]
            for d in deployments
        ),
        title=title,
    )


def logs(
    app: str = typer.Argument(...),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines (Ctrl-C stops)."),
    tail: int = typer.Option(0, "--tail", "-n", help="Lines per container from the end (default 200)."),
    service: str = typer.Option("", "--service", "-s", help="Only this service."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines ({service, line}), one per line."),
) -> None:
    """The app's container logs."""
    with connect() as api:
        if not follow:
            lines = api.get(f"/api/v1/apps/{seg(app)}/logs", tail=tail or None, service=service)["lines"]
            if as_json:
                print_json(lines)
                return
            for line in lines:
                _log_line(line, as_json=False)
            return
        try:
            _follow_logs(api, app, tail=tail, service=service, as_json=as_json)
        except KeyboardInterrupt:
            return


def _follow_logs(api: Api, app: str, *, tail: int, service: str, as_json: bool) -> None:
    path = f"/api/v1/apps/{seg(app)}/logs"
    with api.stream(path, tail=tail or None, service=service, follow=True) as response:
        for raw in response.iter_lines():
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if "line" not in line and "message" in line:  # the access that opened it ended: why
                raise CliError(str(line["message"]))
            _log_line(line, as_json=as_json)


def _log_line(line: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        return
    service = line.get("service", "")
    out.print(f"[cyan]{escape(service)}[/cyan] | " if service else "", end="")
    plain(str(line.get("line", "")))


def _action(action: str) -> Any:
    def command(app: str = typer.Argument(...), wait: bool = actions.WAIT_OPTION) -> None:
        with connect() as api:
            actions.run(api, lambda: api.post(f"/api/v1/apps/{seg(app)}/{action}", {}), wait=wait)

    command.__doc__ = {
        "start": "Start the app's stopped containers.",
        "stop": "Stop the app's containers (they stay; start brings them back).",
        "restart": "Restart the app's containers.",
        "redeploy": "Deploy the current version again (recreates what changed).",
    }[action]
    command.__name__ = action
    return command


def remove(
    app: str = typer.Argument(...),
    volumes: bool = typer.Option(False, "--volumes", help="Also delete the app's named volumes (its data)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    wait: bool = actions.WAIT_OPTION,
) -> None:
    """Remove the app: its containers, then the app itself (--volumes: its data too)."""
    if not yes:
        if not sys.stdin.isatty():
            raise CliError("remove asks for confirmation: pass --yes when not at a terminal")
        what = f"{app} and its volumes (all its data)" if volumes else app
        typer.confirm(f"Remove {what}?", abort=True)
    with connect() as api:
        actions.run(
            api, lambda: api.delete(f"/api/v1/apps/{seg(app)}", remove_volumes=volumes or None), wait=wait
        )


def options(
    app: str = typer.Argument(...),
    auto_rollback: bool | None = typer.Option(
        None, "--auto-rollback/--no-auto-rollback", help="Roll back by itself when a new version fails."
    ),
    backup_volumes: bool | None = typer.Option(
        None, "--backup-volumes/--no-backup-volumes", help="Put its named volumes in backups (with volumes)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show or change the app's options."""
    changes = {
        key: value
        for key, value in (("auto_rollback", auto_rollback), ("backup_volumes", backup_volumes))
        if value is not None
    }
    with connect() as api:
        if not changes:
            info = api.get(f"/api/v1/apps/{seg(app)}")
        else:
            info = api.patch(f"/api/v1/apps/{seg(app)}/options", changes)
    if as_json:
        print_json(
            {
                "auto_rollback": bool(info.get("auto_rollback")),
                "backup_volumes": bool(info.get("backup_volumes")),
            }
        )
        return
    fields(
        [
            ("auto rollback", "on" if info.get("auto_rollback") else "off"),
            ("backup volumes", "on" if info.get("backup_volumes") else "off"),
        ]
    )


def policy(
    app: str = typer.Argument(...),
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow",
            help="A rule, e.g. privileged, cap_add:NET_ADMIN or host_path:/srv/media (that path and "
            "below); repeat. None clears.",
        ),
    ] = None,
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit trail)."),
) -> None:
    with connect() as api:
        info = api.call(
            "PUT", f"/api/v1/apps/{seg(app)}/policy", json={"exceptions": allow or [], "reason": reason}
        )
    out.print(f"Policy exceptions of {escape(app)}: {', '.join(info.get('policy_exceptions', [])) or 'none'}")


policy.__doc__ = f"""Set the app's compose policy exceptions (admin): the --allow rules replace the app's.

    A refusal names its rule (`appos validate FILE` shows them). Rules: {RULES_HELP}.
    """


def register(app: typer.Typer) -> None:
    app.command()(deploy)
    app.command("list")(list_apps)
    app.command("status")(app_status)
    app.command()(logs)
    for action in ("start", "stop", "restart", "redeploy"):
        app.command(action)(_action(action))
    app.command()(remove)
    app.command()(options)
    app.command()(policy)
