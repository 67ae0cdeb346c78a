"""compose.run with real processes: every line reaches on_line, the last one without a newline too,
and a stop request ends the whole process group."""

from __future__ import annotations

import os

from services.deployer import compose

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def test_every_line_is_handed_on_in_order() -> None:
    lines: list[str] = []
    result = compose.run(
        ["sh", "-c", "echo one; echo two >&2; printf 'three\\nfour'; exit 3"],
        env=ENV,
        on_line=lines.append,
        should_stop=lambda: False,
        timeout=30,
    )
    assert result.returncode == 3
    assert not result.cancelled and not result.timed_out
    assert lines == ["one", "two", "three", "four"]


def test_a_stop_request_ends_the_process_group() -> None:
    lines: list[str] = []
    result = compose.run(
        ["sh", "-c", "echo started; sleep 600 & wait"],
        env=ENV,
        on_line=lines.append,
        should_stop=lambda: bool(lines),
        timeout=30,
    )
    assert result.cancelled
    assert lines == ["started"]
    assert result.returncode != 0
