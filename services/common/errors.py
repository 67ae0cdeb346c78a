"""The one error tree of AppOS. Domain code raises these; nothing HTTP-ish lives here.

    AppOSError
    ├── InvalidArgument        bad input                         INVALID_ARGUMENT  → 400
    ├── NotFound               no such thing                     NOT_FOUND         → 404
    ├── AlreadyExists          name taken                        ALREADY_EXISTS    → 409
    ├── Conflict               stale or concurrent change        ABORTED           → 409
    ├── FailedPrecondition     not allowed in the current state  FAILED_PRECONDITION → 400
    ├── Unauthenticated        no or bad credentials             UNAUTHENTICATED   → 401
    ├── PermissionDenied       role too low                      PERMISSION_DENIED → 403
    ├── RateLimited            too many attempts                 RESOURCE_EXHAUSTED → 429
    ├── Unavailable            a part is down, try again         UNAVAILABLE       → 503
    ├── DeadlineExceeded       a part did not answer in time     DEADLINE_EXCEEDED → 504
    └── Internal               a bug; details only in the log    INTERNAL          → 500

The gRPC server interceptor maps these to status codes through `GRPC_CODES` (most specific class
first, walking the MRO); the gateway maps gRPC codes to HTTP once, in `services.gateway.errors`.
"""

from __future__ import annotations

import grpc


class AppOSError(Exception):
    """Base of every error AppOS reports to a caller. The message is shown to users: keep it clear.
    `reason`, when a subclass sets it, is a finer machine-readable code than the status (the REST
    `code` field, e.g. "totp_required"); it does not cross gRPC, where the message says it."""

    reason = ""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(AppOSError):
    pass


class NotFound(AppOSError):
    pass


class AlreadyExists(AppOSError):
    pass


class Conflict(AppOSError):
    pass


class FailedPrecondition(AppOSError):
    pass


class Unauthenticated(AppOSError):
    pass


class PermissionDenied(AppOSError):
    pass


class RateLimited(AppOSError):
    pass


class Unavailable(AppOSError):
    pass


class DeadlineExceeded(AppOSError):
    pass


class Internal(AppOSError):
    pass


GRPC_CODES: dict[type[AppOSError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    Conflict: grpc.StatusCode.ABORTED,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    RateLimited: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    Internal: grpc.StatusCode.INTERNAL,
    AppOSError: grpc.StatusCode.UNKNOWN,
}

# The way back, for errors a service answered: its message is meant for users and travels as is,
# except where the cause is infrastructure (a part down, a timeout, a bug), which gets a plain message.
_FROM_GRPC: dict[grpc.StatusCode, type[AppOSError]] = {
    code: cls for cls, code in GRPC_CODES.items() if cls is not AppOSError
}
_FROM_GRPC[grpc.StatusCode.OUT_OF_RANGE] = InvalidArgument
_FROM_GRPC[grpc.StatusCode.CANCELLED] = Unavailable


# Trailing metadata a server sets when the status comes from an AppOSError (not from the transport).
APPOS_ERROR_KEY = "x-appos-error"


def error_from_status(
    code: grpc.StatusCode, details: str | None, *, service: str, from_appos: bool = False
) -> AppOSError:
    """The AppOSError for a failed call to `service` (a short name such as "state"). `from_appos`:
    the service raised it itself, so its message is for users even when the code is UNAVAILABLE."""
    if from_appos and details and code in _FROM_GRPC and _FROM_GRPC[code] is not Internal:
        return _FROM_GRPC[code](details)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
        return Unavailable(f"the {service} service is unavailable; try again in a moment")
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(f"the {service} service did not answer in time")
    cls = _FROM_GRPC.get(code)
    if cls is None or cls is Internal:
        return Internal(details or f"internal error in the {service} service")
    return cls(details or code.name.lower())


def grpc_code_for(exc: AppOSError) -> grpc.StatusCode:
    """The status code of the most specific known class in the exception's MRO."""
    for cls in type(exc).__mro__:
        code = GRPC_CODES.get(cls)
        if code is not None:
            return code
    return grpc.StatusCode.UNKNOWN
