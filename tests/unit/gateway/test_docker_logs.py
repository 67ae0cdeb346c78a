"""Reading the Docker engine's log streams: both framings, lines split across reads, time order."""

from __future__ import annotations

import struct

from services.gateway.app_logs import _pb
from services.gateway.docker_logs import Decoder, Line, since_after, sort_key, stamp_ns


def _frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def test_multiplexed_frames_in_pieces_become_lines() -> None:
    data = _frame(1, b"2026-01-02T03:04:05.000000001Z hello\n") + _frame(
        2, b"2026-01-02T03:04:05.100000000Z \x1b[31merr\x1b[0m\n"
    )
    decoder = Decoder()
    got = []
    for i in range(0, len(data), 7):  # the engine's chunks need not follow its frames
        got.extend(decoder.feed(data[i : i + 7]))
    got.extend(decoder.flush())
    assert got == [
        (b"2026-01-02T03:04:05.000000001Z", "hello"),
        (b"2026-01-02T03:04:05.100000000Z", "err"),  # colours go, as with Compose's --no-color
    ]


def test_a_tty_container_answers_raw_text() -> None:
    decoder = Decoder()
    got = decoder.feed(b"2026-01-02T03:04:05.000000001Z one\r\n2026-01-02T03:04:05.2Z tw")
    assert got == [(b"2026-01-02T03:04:05.000000001Z", "one")]
    assert decoder.feed(b"o\n2026-01-02T03:04:06Z last") == [(b"2026-01-02T03:04:05.2Z", "two")]
    assert decoder.flush() == [(b"2026-01-02T03:04:06Z", "last")]  # no newline at the end


def test_timestamps_order_whatever_their_fraction_digits() -> None:
    stamps = [b"2026-01-02T03:04:05.61Z", b"2026-01-02T03:04:05.615Z", b"2026-01-02T03:04:05Z"]
    assert sorted(stamps, key=sort_key) == [stamps[2], stamps[0], stamps[1]]


def test_since_is_one_nanosecond_after_the_last_line() -> None:
    assert since_after(b"1970-01-01T00:00:01.999999999Z") == "2.000000000"
    assert since_after(b"2026-01-02T03:04:05.5Z") == "1767323045.500000001"


def test_a_line_carries_its_time_to_the_console() -> None:
    assert stamp_ns(b"2026-01-02T03:04:05.5Z") == 1767323045_500000000
    assert stamp_ns(b"not a time") is None
    (line,) = _pb([Line(service="web", text="hi", stamp=b"2026-01-02T03:04:05.5Z")])
    assert (line.service, line.line, line.time.ToJsonString()) == ("web", "hi", "2026-01-02T03:04:05.500Z")
    (bare,) = _pb([Line(service="web", text="no stamp")])
    assert not bare.HasField("time")
