"""gRPC status → HTTP status, once, and the one JSON error shape: {"code", "message", "request_id"}."""

from __future__ import annotations

import grpc
from fastapi.responses import JSONResponse

from services.common.errors import AppOSError, grpc_code_for

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 503,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.DATA_LOSS: 500,
}

# Codes the gateway answers itself, for what never reaches a service.
HTTP_CODES: dict[int, str] = {
    400: "invalid_argument",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_argument",
    429: "resource_exhausted",
    500: "internal",
    503: "unavailable",
    504: "deadline_exceeded",
}


def error_body(code: str, message: str, request_id: str) -> dict[str, str]:
    return {"code": code, "message": message, "request_id": request_id}


def error_response(
    status: int, code: str, message: str, request_id: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, request_id), status_code=status, headers=headers)


def code_for(exc: AppOSError) -> str:
    """The `code` clients read: the error's own reason (`totp_required`), else its status's name."""
    return exc.reason or grpc_code_for(exc).name.lower()


def body_for(exc: AppOSError, request_id: str) -> dict[str, str]:
    return error_body(code_for(exc), exc.message, request_id)


def response_for(exc: AppOSError, request_id: str) -> JSONResponse:
    status = HTTP_STATUS.get(grpc_code_for(exc), 500)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body_for(exc, request_id), status_code=status, headers=headers)
