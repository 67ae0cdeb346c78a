"""`appos stores add NAME URL [--format F]`, `list`, `show NAME`, `refresh NAME [--wait]`,
`remove NAME`: the community app stores (issue 20) whose apps the catalog lists as `<store>/<name>`."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from cli.client import Api, CliError, connect, seg
from cli.events import EventStream
from cli.groups import group
from cli.output import JSON_OPTION, fields, note, print_json, table, when

stores_app = group("Community app stores: add one by URL, and deploy its apps as STORE/NAME.", default=True)
REFRESHED = "store_refreshed"
FORMATS = "casaos, runtipi, umbrel, dokploy, coolify or portainer"


def _show(store: dict[str, Any]) -> None:
    fields(
        [
            ("name", store.get("name", "")),
            ("url", escape(store.get("url", ""))),
            ("format", store.get("format", "")),
            ("source", store.get("source", "")),
            ("templates", str(store.get("templates", 0))),
            ("refreshed", when(store.get("refreshed_at", ""))),
            ("refreshing", "yes" if store.get("refreshing") else ""),
            ("error", escape(store.get("error", ""))),
        ]
    )
    skipped = store.get("skipped", [])
    if skipped:
        print()
        table(
            ["ENTRY", "WHY IT WAS SKIPPED"],
            ([escape(s.get("entry", "")), escape(s.get("reason", ""))] for s in skipped),
            title=f"skipped ({len(skipped)})",
        )


@stores_app.command("list")
def list_stores(as_json: bool = JSON_OPTION) -> None:
    """The stores added, with how many templates each brought and how many entries it skipped."""
    with connect() as api:
        stores = api.get("/api/v1/catalog/stores").get("stores", [])
    if as_json:
        print_json(stores)
        return
    table(
        ["NAME", "FORMAT", "TEMPLATES", "SKIPPED", "REFRESHED", "URL", "ERROR"],
        (
            [s.get("name", ""), s.get("format", ""), str(s.get("templates", 0)), str(s.get("skipped", 0)),
             when(s.get("refreshed_at", "")), escape(s.get("url", "")), escape(s.get("error", ""))]
            for s in stores
        ),
    )  # fmt: skip


@stores_app.command("add")
def add(
    name: str = typer.Argument(..., help="A short name: lowercase letters, digits and '-'."),
    url: str = typer.Argument(
        ..., help="A git repository URL, an https:// URL of a .zip or .tar.gz, or a folder's absolute path."
    ),
    format: str = typer.Option("", "--format", "-f", help=f"{FORMATS}; detected when left out."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Fetch a store, convert its apps and add them to the catalog (admin). Entries AppOS cannot take
    are listed with the reason."""
    with connect() as api:
        store = api.post("/api/v1/catalog/stores", {"name": name, "url": url, "format": format})
    if as_json:
        print_json(store)
        return
    _show(store)
    note(f"deploy one with: appos deploy {name}/NAME [--name APP]")


@stores_app.command("show")
def show(name: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """One store, with every skipped entry and why."""
    with connect() as api:
        store = api.get(f"/api/v1/catalog/stores/{seg(name)}")
    if as_json:
        print_json(store)
        return
    _show(store)


def _refresh_and_wait(api: Api, name: str) -> dict[str, Any]:
    stream = EventStream(api)
    try:
        stream.open()  # subscribed before the refresh starts: its end cannot be missed
        api.post(f"/api/v1/catalog/stores/{seg(name)}/refresh", {})
        for event in stream:
            if event.type == REFRESHED and event.payload.get("store") == name:
                return event.payload
    finally:
        stream.close()
    raise CliError("the events stream ended before the refresh did")


@stores_app.command("refresh")
def refresh(
    name: str = typer.Argument(...),
    wait: bool = typer.Option(False, "--wait", help="Wait until the refresh ended, then show the store."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Fetch the store again (admin). A template that changed shows as an update of the apps made
    from it; nothing is redeployed by itself."""
    with connect() as api:
        if not wait:
            api.post(f"/api/v1/catalog/stores/{seg(name)}/refresh", {})
            note(f"refresh of {name} started; `appos stores show {name}` shows the result")
            return
        ended = _refresh_and_wait(api, name)
        store = api.get(f"/api/v1/catalog/stores/{seg(name)}")
    if as_json:
        print_json(store)
        return
    _show(store)
    changed = ended.get("changed", [])
    if changed:
        note(f"changed: {', '.join(changed)}")


@stores_app.command("remove")
def remove(name: str = typer.Argument(...)) -> None:
    """Forget a store and its templates (admin). Apps deployed from it keep running and stay editable."""
    with connect() as api:
        api.delete(f"/api/v1/catalog/stores/{seg(name)}")
    note(f"store {name} removed; its apps keep running")


def register(app: typer.Typer) -> None:
    app.add_typer(stores_app, name="stores")
