"""Pure parts of the terminal: the scrollback ring, targets and roles, the settings' defaults, and
the gateway bridge's parsing of the first and control messages."""

from __future__ import annotations

import json
import os

import pytest

from services.common.errors import InvalidArgument, PermissionDenied
from services.gateway.context import Caller
from services.gateway.terminal_ws import control_message, first_message
from services.terminal.scrollback import Scrollback
from services.terminal.settings import TerminalSettings
from services.terminal.targets import Target, check_role, parse_target


def test_scrollback_keeps_the_newest_bytes_at_absolute_offsets() -> None:
    ring = Scrollback(8)
    ring.write(b"abcdef")
    assert (ring.start, ring.total) == (0, 6)
    assert ring.read(0, 100) == (b"abcdef", 6)
    ring.write(b"ghijk")  # wraps: keeps "defghijk"
    assert (ring.start, ring.total) == (3, 11)
    assert ring.read(0, 100) == (b"defghijk", 11)  # an offset that was dropped starts at `start`
    assert ring.read(5, 3) == (b"fgh", 8)
    assert ring.read(8, 100) == (b"ijk", 11)
    assert ring.read(11, 100) == (b"", 11)
    ring.write(b"0123456789xy")  # longer than the ring: only its tail is kept
    assert (ring.start, ring.total) == (15, 23)
    assert ring.read(0, 100) == (b"456789xy", 23)


def test_scrollback_reads_every_byte_once_across_many_wraps() -> None:
    ring = Scrollback(1000)
    data = os.urandom(50_000)
    got, offset = bytearray(), 0
    for start in range(0, len(data), 333):
        ring.write(data[start : start + 333])
        while offset < ring.total:
            chunk, offset = ring.read(offset, 257)
            got += chunk
    assert bytes(got) == data


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("host", Target(kind="host")),
        ("app:blog/web", Target(kind="app", app="blog", service="web")),
        ("app:my-app/db_primary.1", Target(kind="app", app="my-app", service="db_primary.1")),
    ],
)
def test_targets(text: str, target: Target) -> None:
    assert parse_target(text) == target
    assert str(target) == text


@pytest.mark.parametrize(
    "text",
    ["", "HOST", "app:", "app:blog", "app:blog/", "app:Blog/web", "app:blog/-x", "app:blog/web;id",
     "app:../x/web", "app:blog/web/extra", "app:blog/$(id)", "container:blog/web"],
)  # fmt: skip
def test_bad_targets_are_refused_before_they_reach_a_command(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_target(text)


def test_roles_host_is_admin_only_apps_need_an_operator() -> None:
    check_role(parse_target("host"), "admin")
    check_role(parse_target("app:blog/web"), "operator")
    check_role(parse_target("app:blog/web"), "admin")
    for target, role in (("host", "operator"), ("host", "viewer"), ("app:blog/web", "viewer"), ("host", "")):
        with pytest.raises(PermissionDenied):
            check_role(parse_target(target), role)


def test_settings_defaults() -> None:
    settings = TerminalSettings()
    assert settings.terminal_idle_timeout_seconds == 15 * 60
    assert settings.terminal_grace_seconds > 0
    assert settings.terminal_sessions_per_user >= 1


def test_first_message_opens_or_attaches_and_checks_the_role_first() -> None:
    admin, operator = Caller(username="a", role="admin"), Caller(username="o", role="operator")
    opened = first_message({"target": "host", "cols": "120", "rows": "40", "idle_timeout": "5"}, admin)
    assert opened.WhichOneof("kind") == "open"
    assert (opened.open.target, opened.open.cols, opened.open.rows) == ("host", 120, 40)
    assert opened.open.idle_timeout_seconds == 5
    with pytest.raises(PermissionDenied):
        first_message({"target": "host"}, operator)
    assert first_message({"target": "app:blog/web"}, operator).open.target == "app:blog/web"
    attach = first_message({"session": "ab12", "target": "ignored"}, operator)
    assert attach.WhichOneof("kind") == "attach" and attach.attach.session_id == "ab12"
    for query in ({"target": "host", "cols": "-1"}, {"target": "host", "rows": "9999"}, {"session": "../x"}):
        with pytest.raises(InvalidArgument):
            first_message(query, admin)


def test_control_messages() -> None:
    resize = control_message(json.dumps({"type": "resize", "cols": 100, "rows": 30}))
    assert resize is not None and (resize.resize.cols, resize.resize.rows) == (100, 30)
    close = control_message('{"type": "close"}')
    assert close is not None and close.WhichOneof("kind") == "close"
    assert control_message('{"type": "something-newer"}') is None
    for bad in ("ls\r", "[]", '{"type": "resize", "cols": 0, "rows": 3}', '{"type": "resize", "cols": "9"}'):
        with pytest.raises(InvalidArgument):
            control_message(bad)
