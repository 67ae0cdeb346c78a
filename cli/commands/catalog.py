"""`appos catalog [SEARCH]`, `appos catalog show TEMPLATE`."""

from __future__ import annotations

import typer
from rich.markup import escape

from cli.client import connect, seg
from cli.groups import group
from cli.output import JSON_OPTION, fields, out, plain, print_json, table

catalog_app = group("The app catalog: `appos catalog [SEARCH]`, `appos catalog show TEMPLATE`.", default=True)


@catalog_app.command("list")
def list_templates(
    search: str = typer.Argument("", help="Matches name, title, description and category."),
    category: str = typer.Option("", "--category", "-c", help="Only this category."),
    store: str = typer.Option(
        "", "--store", "-s", help="Only this store's templates (builtin: AppOS's own)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """List (or search) the templates you can deploy."""
    with connect() as api:
        reply = api.get("/api/v1/catalog", search=search, category=category, store=store)
    templates = reply.get("templates", [])
    if as_json:
        print_json(templates)
        return
    table(
        ["NAME", "CATEGORY", "STORE", "TITLE", "DESCRIPTION"],
        (
            [t.get("name"), t.get("category"), t.get("store", ""), escape(t.get("title", "")),
             escape(t.get("description", ""))]
            for t in templates
        ),
    )  # fmt: skip


@catalog_app.command("show")
def show_template(
    template: str = typer.Argument(..., help="The template's name."),
    compose: bool = typer.Option(False, "--compose", help="Also print its compose file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """A template's details and its settings (what `deploy --set KEY=VALUE` accepts)."""
    store, _, name = template.rpartition("/")
    path = f"/api/v1/catalog/{seg(store)}/{seg(name)}" if store else f"/api/v1/catalog/{seg(name)}"
    with connect() as api:
        t = api.get(path)
    if as_json:
        print_json(t)
        return
    web = f"{t.get('web_service')}:{t.get('web_port')}" if t.get("web_service") else ""
    fields(
        [
            ("name", t.get("name")),
            ("title", escape(t.get("title", ""))),
            ("category", t.get("category")),
            (
                "store",
                t.get("store", "")
                + ("" if t.get("store") == "builtin" else " (community, not reviewed by AppOS)"),
            ),
            ("description", escape(t.get("description", ""))),
            ("website", t.get("website", "")),
            ("web UI", web),
        ]
    )
    for line in t.get("notes", []):
        out.print(f"[yellow]note:[/] {escape(line)}")
    out.print()
    table(
        ["SETTING", "TYPE", "DEFAULT", "REQUIRED", "HELP"],
        (
            [
                s.get("key"),
                s.get("type") + (f" ({'|'.join(s['choices'])})" if s.get("choices") else ""),
                escape(s.get("default", "")),
                "yes" if s.get("required") else "",
                escape(s.get("help", "")),
            ]
            for s in t.get("settings", [])
        ),
        title="settings",
    )
    if compose:
        out.print()
        plain(t.get("compose", ""))


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")
