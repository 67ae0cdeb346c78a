"""How the CLI prints: Rich tables for people, plain JSON for scripts (`--json`), messages on stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TextIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Piped output is not wrapped at 80 columns (Rich's default without a terminal).
PIPE_WIDTH = 200


def _width(stream: TextIO) -> int | None:
    return None if stream.isatty() or os.environ.get("COLUMNS") else PIPE_WIDTH


out = Console(highlight=False, width=_width(sys.stdout))
err = Console(stderr=True, highlight=False, width=_width(sys.stderr))

JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")

STATUS_STYLES = {
    "running": "green",
    "succeeded": "green",
    "valid": "green",
    "healthy": "green",
    "deploying": "yellow",
    "pending": "yellow",
    "partially_running": "yellow",
    "expiring": "yellow",
    "starting": "yellow",
    "stopped": "dim",
    "cancelled": "dim",
    "failed": "red",
    "unhealthy": "red",
    # servers
    "up": "green",
    "local": "green",
    "connecting": "yellow",
    "down": "red",
}


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


def status(text: str) -> str:
    """A status word, coloured (Rich markup; the word itself comes from a fixed vocabulary)."""
    style = STATUS_STYLES.get(text)
    return f"[{style}]{text}[/{style}]" if style and text.isidentifier() else escape(text)


def when(value: Any) -> str:
    """An RFC 3339 timestamp from the API as local time, to the second; '' when unset."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def size(value: Any) -> str:
    """A byte count in words: `512 B`, `1.5 GiB`."""
    amount = float(value or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return ""


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    """Cells are Rich markup: escape text that comes from users (`rich.markup.escape`)."""
    grid = Table(*columns, title=title, box=None, header_style="bold", pad_edge=False)
    empty = True
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
        empty = False
    if empty:
        err.print("(none)")
        return
    out.print(grid)


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """`key: value` lines for one object."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in pairs:
        grid.add_row(key, "" if value is None else str(value))
    out.print(grid)


def note(message: str) -> None:
    err.print(message, markup=False)


def plain(line: str) -> None:
    """One line to stdout exactly as given (log lines, diffs)."""
    out.print(line, markup=False, highlight=False, soft_wrap=True)
