"""Proto → JSON-ready dicts, as `json_format.MessageToDict(preserving_proto_field_name=True,
always_print_fields_with_no_presence=True)` writes them, several times faster.

json_format walks descriptors on every call in pure Python; list replies of a thousand rows spent
more time there than in the database. Here each message type gets one converter function, built
once from its descriptor and cached: its source is the field list spelled out (`{"id": m.id, …}`,
a converter call only where a value needs one, `HasField` only for fields with presence), so a
message costs one dict display and its fields' reads. Timestamps are formatted from integer
arithmetic and a cache of "YYYY-MM-DDTHH:MM:" by minute (time.strftime was half of a user list's time).
tests/unit/gateway/test_jsonify.py checks both give the same output.

`reply_json` writes a reply's JSON bytes. The long lists (a top-level repeated field of a type in
_MEMOIZED: the apps, the users) keep each element's JSON by the element's wire bytes, so an element
read again unchanged (the console reads the app list every few seconds) is not converted again:
equal bytes are an equal message, whose JSON is the same. The memo of each type is emptied when it
passes _MEMO_BYTES; types that may carry a secret are never kept.
"""

from __future__ import annotations

import base64
import keyword
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic_core
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

Convert = Callable[[Any], Any]
_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_converters: dict[str, Convert] = {}
_TWO_DIGITS = tuple(f"{i:02d}" for i in range(60))
_minutes: dict[int, str] = {}  # minutes since the epoch → "YYYY-MM-DDTHH:MM:"
_MAX_MINUTES = 16384


def _minute(minutes: int) -> str:
    prefix = _minutes.get(minutes)
    if prefix is None:
        start = _EPOCH + timedelta(minutes=minutes)
        prefix = f"{start.year:04d}-{start.month:02d}-{start.day:02d}T{start.hour:02d}:{start.minute:02d}:"
        if len(_minutes) >= _MAX_MINUTES:
            _minutes.clear()
        _minutes[minutes] = prefix
    return prefix


def _timestamp(ts: Timestamp) -> str:
    """RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, as json_format writes it."""
    seconds, nanos = ts.seconds, ts.nanos
    minutes, second = divmod(seconds, 60)
    text = _minute(minutes) + _TWO_DIGITS[second]
    if nanos == 0:
        return text + "Z"
    if nanos % 1_000_000 == 0:
        return text + "." + str(1000 + nanos // 1_000_000)[1:] + "Z"
    if nanos % 1000 == 0:
        return text + "." + str(1_000_000 + nanos // 1000)[1:] + "Z"
    return text + "." + str(1_000_000_000 + nanos)[1:] + "Z"


def _float(value: float) -> Any:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _scalar(field: FieldDescriptor) -> Convert | None:
    """A converter for one value of `field`, or None when the value is already JSON."""
    t = field.type
    if t == FieldDescriptor.TYPE_MESSAGE:
        message_type = field.message_type
        assert message_type is not None
        if message_type.full_name == "google.protobuf.Timestamp":
            return _timestamp
        return message_to_json
    if t == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        names = {v.number: v.name for v in field.enum_type.values}
        return lambda v: names.get(v, v)
    if t in _INT64:
        return str
    if t == FieldDescriptor.TYPE_BYTES:
        return lambda v: base64.b64encode(v).decode()
    if t in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return _float
    return None


def _field(field: FieldDescriptor) -> tuple[bool, Convert | None]:
    """(has presence, converter of the field's whole value, or None to take it as it is)."""
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        value = _scalar(message_type.fields_by_name["value"])
        key = _scalar(message_type.fields_by_name["key"])
        key_text: Convert = (lambda k: str(key(k))) if key else str
        if value is None:
            return False, lambda m: {key_text(k): v for k, v in m.items()}
        return False, lambda m: {key_text(k): value(v) for k, v in m.items()}
    one = _scalar(field)
    if field.is_repeated:
        if one is None:
            return False, list
        return False, lambda values: [one(v) for v in values]
    return field.has_presence, one


def _compile(descriptor: Any, skip: frozenset[str] | set[str] = frozenset()) -> Convert:
    """`descriptor`'s converter: Python source with one line per field, in field order (names are
    proto identifiers, written with repr; a converter is passed in as `c<i>`, never spelled).
    Fields in `skip` are left out."""
    names: dict[str, Any] = {}
    leading: list[str] = []  # the fields before the first with presence: one dict display
    lines: list[str] = []
    for i, field in enumerate(descriptor.fields):
        if field.name in skip:
            continue
        if not field.name.isidentifier():  # never for a proto field name; guards the source anyway
            raise ValueError(f"unexpected field name {field.name!r}")
        has_presence, convert = _field(field)
        value = f"getattr(m, {field.name!r})" if keyword.iskeyword(field.name) else f"m.{field.name}"
        if convert is not None:
            names[f"c{i}"] = convert
            value = f"c{i}({value})"
        if has_presence:
            lines.append(f"    if m.HasField({field.name!r}):")
            lines.append(f"        out[{field.name!r}] = {value}")
        elif lines:
            lines.append(f"    out[{field.name!r}] = {value}")
        else:
            leading.append(f"{field.name!r}: {value}")
    lines = ["def convert(m):", f"    out = {{{', '.join(leading)}}}", *lines, "    return out"]
    exec(compile("\n".join(lines), f"<jsonify {descriptor.full_name}>", "exec"), names)  # noqa: S102
    converter: Convert = names["convert"]
    return converter


def message_to_json(message: Message) -> dict[str, Any]:
    descriptor = message.DESCRIPTOR
    converter = _converters.get(descriptor.full_name)
    if converter is None:
        if descriptor.full_name == "google.protobuf.Timestamp":
            raise TypeError("a Timestamp is a field value, not a top-level message")
        converter = _converters[descriptor.full_name] = _compile(descriptor)
    result: dict[str, Any] = converter(message)
    return result


_MEMO_BYTES = 8 << 20  # per message type: keys and JSON of about 5,000 apps
_MEMOIZED = frozenset({"appos.v1.App", "appos.v1.User"})


class _Fragments:
    """The JSON of messages of one type, by their wire bytes, up to `budget` bytes (then emptied)."""

    def __init__(self, budget: int = _MEMO_BYTES) -> None:
        self.found: dict[bytes, bytes] = {}
        self.size = 0
        self.budget = budget

    def add(self, out: list[bytes], elements: Any) -> None:
        """Append the elements' JSON to `out`, separated by commas."""
        found = self.found
        for element in elements:
            key = element.SerializeToString()
            text = found.get(key)
            if text is None:
                text = pydantic_core.to_json(message_to_json(element))
                if self.size + len(key) + len(text) > self.budget:
                    found.clear()
                    self.size = 0
                found[key] = text
                self.size += len(key) + len(text)
            out.append(text)
            out.append(b",")
        if elements:
            out.pop()


# A reply type's fields in order: (name, its JSON key with colon, the memo of a list of messages
# or None), and the converter of its other fields. None for a type without such a list.
_Plan = tuple[list[tuple[str, bytes, "_Fragments | None"]], Convert]
_plans: dict[str, _Plan | None] = {}


def _plan(descriptor: Any) -> _Plan | None:
    fields = []
    for field in descriptor.fields:
        message_type = field.message_type
        listed = field.is_repeated and message_type is not None and message_type.full_name in _MEMOIZED
        fields.append((field.name, f'"{field.name}":'.encode(), _Fragments() if listed else None))
    if all(memo is None for _, _, memo in fields):
        return None
    return fields, _compile(descriptor, skip={name for name, _, memo in fields if memo is not None})


def reply_json(message: Message) -> bytes:
    """`pydantic_core.to_json(message_to_json(message))`, each element of a top-level list of
    messages written once per distinct element (see the module's docstring)."""
    name = message.DESCRIPTOR.full_name
    if name in _plans:
        plan = _plans[name]
    else:
        plan = _plans[name] = _plan(message.DESCRIPTOR)
    if plan is None:
        return pydantic_core.to_json(message_to_json(message))
    fields, convert_rest = plan
    rest = convert_rest(message)
    # one join at the end: each concatenation of a megabyte of JSON costs a new buffer's page faults
    out = [b"{"]
    for field_name, key, memo in fields:
        if memo is not None:
            out.append(key + b"[" if len(out) == 1 else b"," + key + b"[")
            memo.add(out, getattr(message, field_name))
            out.append(b"]")
        elif field_name in rest:
            out.append((key if len(out) == 1 else b"," + key) + pydantic_core.to_json(rest[field_name]))
    out.append(b"}")
    return b"".join(out)
