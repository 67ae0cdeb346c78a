"""`appos update`: its arguments, the body it sends, which apps --all takes, and the summary (no server)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.client import CliError
from cli.commands.update import Result, apps_with_updates, parse_targets, summary, update_body
from cli.main import build_app


def test_to_takes_service_equals_tag() -> None:
    assert parse_targets(["web=1.1.0", " db = 16.2 "]) == {"web": "1.1.0", "db": "16.2"}
    for bad in (["1.1.0"], ["web="], ["=1.1.0"]):
        with pytest.raises(CliError, match="SERVICE=TAG"):
            parse_targets(bad)
    with pytest.raises(CliError, match="names web twice"):
        parse_targets(["web=1", "web=2"])


def test_the_body_says_only_what_was_asked() -> None:
    assert update_body(targets={}, major=False, volumes=True) == {}
    assert update_body(targets={"web": "2.0.0"}, major=True, volumes=False) == {
        "services": {"web": "2.0.0"},
        "allow_major": True,
        "snapshot_volumes": False,
    }


def test_all_takes_apps_with_non_major_findings_unless_major_is_allowed() -> None:
    rows = [
        {"app": "wiki", "kind": "major"},
        {"app": "blog", "kind": "minor"},
        {"app": "blog", "kind": "patch"},
        {"app": "shop", "kind": "digest"},
        {"app": "db", "kind": "unknown"},
    ]
    assert apps_with_updates(rows, major=False) == ["blog", "shop"]
    assert apps_with_updates(rows, major=True) == ["blog", "shop", "wiki"]


def test_the_summary_names_what_failed_and_why() -> None:
    results = [
        Result("blog", True, "succeeded", {}),
        Result("shop", False, "update of shop failed: rolled back to v3: web was unhealthy", {}),
        Result("wiki", True, "succeeded", {}),
    ]
    assert (
        summary(results)
        == "updated 2 of 3 apps; failed: shop (update of shop failed: rolled back to v3: web was unhealthy)"
    )
    assert summary(results[:1]) == "updated 1 of 1 apps"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["update"], "name the app to update, or use --all"),
        (["update", "--all", "blog"], "leave out APP and --to"),
        (["update", "--all", "--to", "web=1"], "leave out APP and --to"),
        (["update", "blog", "--to", "web"], "SERVICE=TAG"),
    ],
)
def test_refused_before_any_request(args: list[str], words: str) -> None:
    result = CliRunner().invoke(
        build_app(), args, env={"APPOS_URL": "http://127.0.0.1:9", "APPOS_TOKEN": "x"}
    )
    assert isinstance(result.exception, CliError)  # main() prints it as `error: …` and exits 1
    assert words in result.exception.message
    assert result.exception.exit_code == 1
