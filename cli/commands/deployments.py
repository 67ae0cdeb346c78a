"""`appos deployments [APP]`, `deployments show|logs|cancel ID`."""

from __future__ import annotations

import typer
from rich.markup import escape

from cli.appstate import deployment_label, image_words
from cli.client import connect, seg
from cli.commands.apps import deployment_table
from cli.groups import group
from cli.output import JSON_OPTION, fields, out, plain, print_json, status, when

deployments_app = group("Deployments: every change to an app runs as one.", default=True)


@deployments_app.command("list")
def list_deployments(
    app: str = typer.Argument("", help="Only this app's."),
    limit: int = typer.Option(20, "--limit", help="At most this many, newest first."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Recent deployments, newest first."""
    with connect() as api:
        reply = api.get("/api/v1/deployments", app=app, page_size=limit)
    deployments = reply.get("deployments", [])[:limit]
    if as_json:
        print_json(deployments)
        return
    deployment_table(deployments)


@deployments_app.command("show")
def show(deployment_id: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """One deployment, the images it ran and its log."""
    with connect() as api:
        deployment = api.get(f"/api/v1/deployments/{seg(deployment_id)}")
        lines = api.get(f"/api/v1/deployments/{seg(deployment_id)}/logs").get("lines", [])
    if as_json:
        print_json({**deployment, "log": [line.get("line", "") for line in lines]})
        return
    fields(
        [
            ("deployment", deployment.get("id")),
            ("app", deployment.get("app")),
            ("action", deployment_label(deployment)),
            ("status", status(deployment.get("status", ""))),
            ("reason", escape(deployment.get("reason", ""))),
            ("version", deployment.get("version") or ""),
            ("by", deployment.get("actor", "")),
            ("created", when(deployment.get("created_at"))),
            ("finished", when(deployment.get("finished_at"))),
            *(
                ("ran" if n == 0 else "", escape(image_words(image)))
                for n, image in enumerate(deployment.get("images", []))
            ),
        ]
    )
    if lines:
        out.print()
        for line in lines:
            plain(str(line.get("line", "")))


@deployments_app.command("logs")
def logs(deployment_id: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """A deployment's log (the Compose output)."""
    with connect() as api:
        lines = api.get(f"/api/v1/deployments/{seg(deployment_id)}/logs").get("lines", [])
    if as_json:
        print_json(lines)
        return
    for line in lines:
        plain(str(line.get("line", "")))


@deployments_app.command("cancel")
def cancel(deployment_id: str = typer.Argument(...)) -> None:
    """Cancel a pending or running deployment."""
    with connect() as api:
        deployment = api.post(f"/api/v1/deployments/{seg(deployment_id)}/cancel", {})
    out.print(f"Deployment {deployment.get('id')} is {status(deployment.get('status', ''))}.")


def register(app: typer.Typer) -> None:
    app.add_typer(deployments_app, name="deployments")
