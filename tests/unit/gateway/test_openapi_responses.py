"""The OpenAPI document declares what the gateway really answers (found by the fuzzer: queued work
answered 202 against a declared 200, and error statuses were only a catch-all `default`)."""

from __future__ import annotations

from services.gateway.app import openapi_document

ERROR = {"$ref": "#/components/schemas/Error"}


def test_queued_work_declares_202_not_200() -> None:
    create = openapi_document()["paths"]["/api/v1/apps"]["post"]["responses"]
    assert "202" in create and "200" not in create
    assert create["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateAppReply"
    }


def test_every_generated_operation_declares_its_json_errors() -> None:
    document = openapi_document()
    for path, operations in document["paths"].items():
        for verb, operation in operations.items():
            responses = operation["responses"]
            if "default" in responses:  # hand-written streams keep a catch-all
                continue
            for code in ("400", "404", "409", "429", "500", *(() if path == "/health" else ("503",))):
                assert responses[code]["content"]["application/json"]["schema"] == ERROR, (verb, path, code)
            if operation.get("security") != []:
                assert {"401", "403"} <= set(responses), (verb, path)
    assert set(document["components"]["schemas"]["Error"]["required"]) == {"code", "message", "request_id"}


def test_if_match_is_a_required_header_with_428() -> None:
    put = openapi_document()["paths"]["/api/v1/apps/{app}/compose"]["put"]
    assert {"name": "If-Match", "in": "header", "required": True, "schema": {"type": "string"}} in put[
        "parameters"
    ]
    assert "428" in put["responses"]
