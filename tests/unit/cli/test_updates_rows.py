"""`appos updates`' table: a store template's change (kind template, no service or tag) reads as one,
and `--all` leaves it out (nothing applies it). No server."""

from __future__ import annotations

from cli.commands.update import apps_with_updates
from cli.commands.updates import _rows

TEMPLATE = {
    "app": "casa1",
    "service": "",
    "image": "casa/hello",
    "kind": "template",
    "reason": "the store's template casa/hello changed; redeploying with it is your choice",
    "diff": "-echo one\n+echo two\n",
}
PATCH = {"app": "blog", "service": "web", "image": "web:1.0.0", "kind": "patch", "current_tag": "1.0.0",
         "candidate_tag": "1.0.1"}  # fmt: skip


def test_a_template_row_says_the_template_changed() -> None:
    assert _rows([TEMPLATE, PATCH]) == [
        ["casa1", "", "casa/hello",
         "the store template changed; redeploying with it is your choice (--json has the diff)", "template"],
        ["blog", "web", "web:1.0.0", "1.0.0 → 1.0.1", "patch"],
    ]  # fmt: skip


def test_update_all_leaves_template_rows_out() -> None:
    assert apps_with_updates([TEMPLATE, PATCH], major=True) == ["blog"]
