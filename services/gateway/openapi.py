"""The OpenAPI 3.1 document, generated from the same descriptors as the routes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from services.gateway.http_rules import Route

_INT32 = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_FIXED32,
}
_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Empty": {"type": "object"},
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "message", "request_id"],
    "properties": {
        "code": {"type": "string", "description": "machine-readable, e.g. not_found"},
        "message": {"type": "string", "description": "for people"},
        "request_id": {"type": "string"},
    },
}


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, message: Descriptor) -> dict[str, Any]:
        if message.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[message.full_name])
        name = message.full_name.replace("appos.v1.", "")
        if name not in self.components:
            self.components[name] = {}  # placeholder against recursion
            self.components[name] = self.object(message)
        return {"$ref": f"#/components/schemas/{name}"}

    def object(self, message: Descriptor, exclude: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
        properties = {f.name: self.field(f) for f in message.fields if f.name not in exclude}
        return {"type": "object", "properties": properties, "additionalProperties": False}

    def scalar(self, field: FieldDescriptor) -> dict[str, Any]:
        t = field.type
        if t == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
            return self.ref(field.message_type)
        if t == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
            return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        if t == FieldDescriptor.TYPE_BOOL:
            return {"type": "boolean"}
        if t in _INT32:
            minimum = 0 if t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32) else -(2**31)
            return {"type": "integer", "format": "int32", "minimum": minimum, "maximum": 2**31 - 1}
        if t in _INT64:
            # proto3 JSON writes 64-bit integers as strings and reads either form.
            return {"type": ["string", "integer"], "format": "int64"}
        if t in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
            return {"type": "number"}
        if t == FieldDescriptor.TYPE_BYTES:
            return {"type": "string", "format": "byte"}
        return {"type": "string"}

    def field(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.scalar(value)}
        if field.is_repeated:
            return {"type": "array", "items": self.scalar(field)}
        return self.scalar(field)


_ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
# What the gateway itself can answer for any route (every one as {code, message, request_id}).
_COMMON_ERRORS = {
    "400": "Invalid request: path, query or body (the message says which field)",
    "404": "Not found",
    "409": "Conflict: already exists, or a stale/concurrent change",
    "429": "Too many requests",
    "500": "Internal error (a bug; the request id is in the logs)",
    "503": "A part behind the gateway is unavailable",
    "504": "A part behind the gateway did not answer in time",
}


def _error_responses(route: Route, *, has_body: bool, required_headers: frozenset[str]) -> dict[str, Any]:
    errors = dict(_COMMON_ERRORS)
    if not route.public:
        errors["401"] = "No, an invalid, expired or revoked token"
        errors["403"] = f"The caller's role is below {route.min_role}"
    elif route.method.name == "Login":
        errors["401"] = "Wrong username or password"
    if has_body:
        errors["413"] = "Request body too large"
    if required_headers:
        errors["428"] = f"Missing {', '.join(sorted(required_headers))} header"
    return {code: {"description": text, "content": _ERROR_REF} for code, text in sorted(errors.items())}


def _operation(
    route: Route, schemas: _Schemas, *, success: int = 200, required_headers: frozenset[str] = frozenset()
) -> dict[str, Any]:
    message = route.method.input_type
    path_params = set(route.path_params)
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": schemas.field(message.fields_by_name[name])}
        for name in route.path_params
    ]
    if route.body != "*":
        for field in message.fields:
            if field.name in path_params or field.name == route.body:
                continue
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                continue
            parameters.append(
                {"name": field.name, "in": "query", "required": False, "schema": schemas.field(field)}
            )
    operation: dict[str, Any] = {
        "operationId": f"{route.method.containing_service.name}_{route.method.name}",
        "summary": route.method.name,
        "tags": [route.method.containing_service.name],
        "parameters": parameters,
        "responses": {
            str(success): {
                "description": "Accepted: the work is queued" if success == 202 else "OK",
                "content": {"application/json": {"schema": schemas.ref(route.method.output_type)}},
            },
        },
    }
    for header in sorted(required_headers):
        parameters.append({"name": header, "in": "header", "required": True, "schema": {"type": "string"}})
    if route.body == "*":
        body_schema = schemas.object(message, exclude=path_params)
    elif route.body:
        body_schema = schemas.field(message.fields_by_name[route.body])
    else:
        body_schema = None
    operation["responses"].update(
        _error_responses(route, has_body=body_schema is not None, required_headers=required_headers)
    )
    if body_schema is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body_schema}},
        }
    if route.public:
        operation["security"] = []
    else:
        operation["description"] = f"Needs the {route.min_role} role or higher."
    return operation


def build_openapi(
    routes: list[Route],
    *,
    version: str,
    success_status: Mapping[str, int] | None = None,
    required_headers: Mapping[str, frozenset[str]] | None = None,
) -> dict[str, Any]:
    """`success_status`: routes (by full method name) whose success is not 200 (202 for queued
    work); `required_headers`: request headers a route cannot do without (If-Match → 428)."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.verb] = _operation(
            route,
            schemas,
            success=(success_status or {}).get(route.full_name, 200),
            required_headers=(required_headers or {}).get(route.full_name, frozenset()),
        )
    health = paths.get("/health", {}).get("get")
    if health is not None:
        health["responses"]["503"] = {
            "description": "A part is down; the body names it",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
        }
    schemas.components["Error"] = ERROR_SCHEMA
    return {
        "openapi": "3.1.0",
        "info": {"title": "AppOS", "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
