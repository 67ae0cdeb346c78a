"""The `appos` command line (placeholder until the CLI lands)."""

from __future__ import annotations


def main() -> None:
    raise SystemExit("the appos CLI is not built yet")
