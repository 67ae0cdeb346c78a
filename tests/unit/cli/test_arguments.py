"""Argument parsing and the pure helpers behind the commands (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.client import CliError, seg
from cli.commands.apps import create_body, parse_settings
from cli.commands.shell import target_for
from cli.events import Event, parse_sse
from cli.groups import DefaultGroup
from cli.main import build_app
from cli.terminal import Ending, ended_by, ws_url


def test_set_options_become_settings() -> None:
    assert parse_settings(["A=1", "B=x=y", "C=", " D =v"]) == {"A": "1", "B": "x=y", "C": "", "D": "v"}
    for bad in (["novalue"], ["=v"]):
        with pytest.raises(CliError, match="KEY=VALUE"):
            parse_settings(bad)


def _body(**given: object) -> dict[str, object]:
    args: dict[str, object] = {
        "template": None,
        "name": None,
        "settings": [],
        "compose": None,
        "env": None,
        "message": "",
        "allow": [],
        "auto_rollback": True,
    }
    args.update(given)
    return create_body(**args)  # type: ignore[arg-type]


def test_deploy_bodies(tmp_path: Path) -> None:
    assert _body(template="wordpress", settings=["HTTP_PORT=8081"]) == {
        "template": "wordpress",
        "settings": {"HTTP_PORT": "8081"},
        "name": "wordpress",
    }
    compose, env = tmp_path / "c.yaml", tmp_path / ".env"
    compose.write_text("services: {}\n")
    env.write_text("A=1\n")
    assert _body(name="mine", compose=compose, env=env, auto_rollback=False, allow=["privileged"]) == {
        "compose": "services: {}\n",
        "env": "A=1\n",
        "name": "mine",
        "allow": ["privileged"],
        "auto_rollback": False,
    }


@pytest.mark.parametrize(
    ("given", "needle"),
    [
        ({}, "give a TEMPLATE"),
        ({"template": "x", "compose": Path("c.yaml")}, "not both"),
        ({"compose": Path("c.yaml")}, "needs --name"),
        ({"template": "x", "env": Path(".env")}, "--env goes with --compose"),
        ({"name": "n", "compose": Path("/nonexistent/c.yaml")}, "cannot read"),
    ],
)
def test_bad_deploy_arguments(given: dict[str, object], needle: str) -> None:
    with pytest.raises(CliError, match=needle):
        _body(**given)


def test_shell_targets() -> None:
    assert target_for(None) == "host"
    assert target_for("blog/db") == "app:blog/db"
    assert target_for("blog", ["web"]) == "app:blog/web"
    with pytest.raises(CliError, match="blog/SERVICE"):
        target_for("blog", ["web", "db"])


def test_path_segments_are_escaped() -> None:
    assert seg("a/../b") == "a%2F..%2Fb"
    assert seg("blog.example.com") == "blog.example.com"


def test_terminal_url_and_endings() -> None:
    assert ws_url("https://h:8443/base/", target="app:a/s", cols=80, rows=24) == (
        "wss://h:8443/base/api/v1/terminal/ws?target=app%3Aa%2Fs&cols=80&rows=24"
    )
    assert ws_url("http://127.0.0.1:8080", target="host", cols=1, rows=2).startswith("ws://127.0.0.1:8080/")
    assert ws_url("http://h", target="host", cols=1, rows=2, session="ab12").endswith(
        "?session=ab12&cols=1&rows=2"
    )
    assert ended_by({"type": "exit", "code": 3, "signal": 0, "reason": "exited"}) == Ending(3, "exited")
    assert ended_by({"type": "exit", "code": 0, "signal": 9, "reason": "killed"}) == Ending(137, "killed")
    assert ended_by({"type": "exit", "code": 0, "signal": 0, "reason": "exited"}) == Ending(0, "")
    assert ended_by({"type": "opened"}) is None


def test_server_sent_events_are_parsed() -> None:
    lines = [
        "retry: 2000",
        ": events after 41",
        "",
        "id: 42",
        "event: deployment_log",
        'data: {"seq":42,"type":"deployment_log","subject":"d1","payload":{"line":"hi"}}',
        "",
        ": keepalive",
        "",
        "data: not json",
        "",
    ]
    items = list(parse_sse(iter(lines)))
    assert items[0] == 41
    assert isinstance(items[1], Event) and len(items) == 2
    assert (items[1].seq, items[1].type, items[1].subject, items[1].payload) == (
        42,
        "deployment_log",
        "d1",
        {"line": "hi"},
    )


def test_a_default_group_sends_unknown_words_to_list() -> None:
    seen: list[str] = []
    sub = typer.Typer(cls=DefaultGroup)

    @sub.command("list")
    def list_(search: str = typer.Argument("")) -> None:
        seen.append(f"list:{search}")

    @sub.command("show")
    def show(name: str) -> None:
        seen.append(f"show:{name}")

    app = typer.Typer()
    app.add_typer(sub, name="catalog")

    @app.command()
    def other() -> None:  # a second command, so `catalog` stays a subcommand
        pass

    runner = CliRunner()
    for args in (["catalog"], ["catalog", "wordpress"], ["catalog", "list", "x"], ["catalog", "show", "t"]):
        assert runner.invoke(app, args).exit_code == 0
    assert seen == ["list:", "list:wordpress", "list:x", "show:t"]


def test_every_command_has_help() -> None:
    app = build_app()
    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    for command in ("login", "deploy", "edit", "shell", "logs", "remove", "history", "diff", "rollback"):
        assert command in top.output
    for group in ("config", "catalog", "deployments", "domains", "certs", "users", "tokens"):
        result = runner.invoke(app, [group, "--help"])
        assert result.exit_code == 0, result.output


def test_usage_errors_exit_2() -> None:
    runner = CliRunner()
    assert runner.invoke(build_app(), ["rollback", "blog"]).exit_code == 2  # missing N
    assert runner.invoke(build_app(), ["diff", "blog", "two"]).exit_code == 2  # not a number


def test_no_token_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("APPOS_TOKEN", raising=False)
    monkeypatch.setenv("APPOS_URL", "http://127.0.0.1:9")
    result = CliRunner().invoke(build_app(), ["catalog", "wordpress"])
    assert isinstance(result.exception, CliError)
    assert "appos login" in result.exception.message
