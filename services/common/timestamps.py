"""Time in AppOS: integer microseconds since the Unix epoch (UTC) in storage and domain code, and
protobuf Timestamps on the wire. Integers compare and sort cheaply and need no parsing."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

MICROS = 1_000_000


def now_us() -> int:
    return time.time_ns() // 1000


def set_ts(field: Timestamp, micros: int | None) -> None:
    """Fill a message's Timestamp field in place; None leaves it unset."""
    if micros is not None:
        field.seconds, rest = divmod(micros, MICROS)
        field.nanos = rest * 1000


def ts_us(field: Timestamp) -> int:
    return field.seconds * MICROS + field.nanos // 1000


def datetime_us(value: datetime) -> int:
    return int(value.replace(tzinfo=value.tzinfo or UTC).timestamp() * MICROS)


def us_datetime(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / MICROS, UTC)
