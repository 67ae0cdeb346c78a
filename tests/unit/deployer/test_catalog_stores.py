"""The catalog with app stores: a store's templates are `<store>/<entry>`, listed with their store,
filtered by it, replaced whole by a refresh and gone with the store; built-in names never clash."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.common.errors import NotFound
from services.deployer.catalog import BUILTIN, Catalog, Template


def _template(name: str, store: str = BUILTIN, title: str = "") -> Template:
    return Template(
        name=name, title=title or name, description="", category="web", compose="", settings=(), store=store
    )


def test_store_templates_are_named_by_their_store_and_filtered_by_it() -> None:
    catalog = Catalog({"nginx": _template("nginx")})
    catalog.set_store("casa", [_template("casa/nginx", "casa"), _template("casa/jellyfin", "casa")])
    assert catalog.get("nginx").store == BUILTIN
    assert catalog.get("casa/nginx").store == "casa"
    with pytest.raises(NotFound):
        catalog.get("other/nginx")
    with pytest.raises(NotFound):
        catalog.get("jellyfin")  # a store's entry is never reachable by its bare name
    assert [t.name for t in catalog.search(search="nginx", category="")] == ["nginx", "casa/nginx"]
    assert [t.name for t in catalog.search(search="", category="", store="casa")] == [
        "casa/jellyfin",
        "casa/nginx",
    ]
    assert [t.name for t in catalog.search(search="", category="", store=BUILTIN)] == ["nginx"]
    assert catalog.get("casa/nginx").to_pb().store == "casa"


def test_a_refresh_replaces_a_store_whole_and_removal_forgets_it() -> None:
    catalog = Catalog({})
    catalog.set_store("casa", [_template("casa/a", "casa"), _template("casa/b", "casa")])
    catalog.set_store("casa", [replace(_template("casa/b", "casa"), title="B2")])
    assert [t.name for t in catalog.search(search="", category="")] == ["casa/b"]
    assert catalog.get("casa/b").title == "B2"
    catalog.drop_store("casa")
    assert catalog.search(search="", category="") == []
    catalog.drop_store("casa")  # twice is fine
