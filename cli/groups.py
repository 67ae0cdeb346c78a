"""A command group with a default subcommand: `appos catalog wordpress` means `appos catalog list
wordpress`, while `appos catalog show wordpress` still reaches `show`."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup


class DefaultGroup(TyperGroup):
    default_command = "list"

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def group(help_text: str, *, default: bool = False) -> typer.Typer:
    """A sub-app; with `default`, unknown first words go to its `list` command."""
    return typer.Typer(
        help=help_text,
        cls=DefaultGroup if default else None,
        no_args_is_help=not default,
        add_completion=False,
    )
