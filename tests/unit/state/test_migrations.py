"""Data migrations, from a database at the revision before them."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from services.state.db import MIGRATIONS, make_engine, migrate


def _at(engine: sa.Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_0007_brings_proxy_domains_recorded_earlier_to_todays_form(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "appos.db")
    _at(engine, "0006")
    insert = sa.text(
        "INSERT INTO proxy_domains (domain, app, service, port, console, upstream, https, force_https,"
        " cert_status, cert_reason, cert_issuer, created_at, updated_at)"
        " VALUES (:d, :a, :s, :p, :c, :u, :h, :f, 'pending', '', '', 1, 1)"
    )
    with engine.begin() as db:
        db.execute(insert, {"d": "blog.example.com", "a": "blog", "s": "web", "p": 80, "c": False,
                            "u": "127.0.0.1:18080", "h": True, "f": True})  # fmt: skip
        db.execute(insert, {"d": "admin.example.com", "a": "", "s": "", "p": 0, "c": True,
                            "u": "127.0.0.1:8080", "h": False, "f": False})  # fmt: skip
    migrate(engine)
    with engine.connect() as db:
        rows = {r.domain: r for r in db.execute(sa.text("SELECT * FROM proxy_domains"))}
    assert rows["blog.example.com"].upstream == "app:blog/web:80"
    assert (rows["admin.example.com"].https, rows["admin.example.com"].force_https) == (1, 1)
    assert rows["admin.example.com"].upstream == "127.0.0.1:8080"  # the console's own address stays
    engine.dispose()


def test_0008_gives_deployments_recorded_earlier_an_empty_image_list(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "appos.db")
    _at(engine, "0007")
    with engine.begin() as db:
        db.execute(
            sa.text(
                "INSERT INTO deployments (id, app, action, status, reason, version, actor, attempt,"
                " options_json, created_at) VALUES ('d1', 'blog', 'deploy', 'succeeded', '', 1, 'alice', 1,"
                " '{}', 1)"
            )
        )
    migrate(engine)
    with engine.connect() as db:
        row = db.execute(sa.text("SELECT images_json FROM deployments WHERE id = 'd1'")).one()
    assert row.images_json == "[]"
    engine.dispose()
