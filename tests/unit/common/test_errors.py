from __future__ import annotations

import grpc
import pytest

from services.common import errors


class ThingMissing(errors.NotFound):
    pass


def test_most_specific_class_wins() -> None:
    assert errors.grpc_code_for(ThingMissing("x")) is grpc.StatusCode.NOT_FOUND
    assert errors.grpc_code_for(errors.InvalidArgument("x")) is grpc.StatusCode.INVALID_ARGUMENT
    assert errors.grpc_code_for(errors.AppOSError("x")) is grpc.StatusCode.UNKNOWN


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (grpc.StatusCode.NOT_FOUND, errors.NotFound),
        (grpc.StatusCode.ALREADY_EXISTS, errors.AlreadyExists),
        (grpc.StatusCode.INVALID_ARGUMENT, errors.InvalidArgument),
        (grpc.StatusCode.PERMISSION_DENIED, errors.PermissionDenied),
        (grpc.StatusCode.UNAUTHENTICATED, errors.Unauthenticated),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.RateLimited),
    ],
)
def test_domain_errors_travel_back_with_their_message(code: grpc.StatusCode, cls: type) -> None:
    exc = errors.error_from_status(code, "user 'x' does not exist", service="state")
    assert type(exc) is cls
    assert exc.message == "user 'x' does not exist"


def test_infrastructure_errors_get_a_plain_message() -> None:
    down = errors.error_from_status(
        grpc.StatusCode.UNAVAILABLE, "failed to connect to unix:/secret/path.sock", service="state"
    )
    assert isinstance(down, errors.Unavailable)
    assert "path.sock" not in down.message and "state" in down.message
    slow = errors.error_from_status(grpc.StatusCode.DEADLINE_EXCEEDED, "", service="state")
    assert isinstance(slow, errors.DeadlineExceeded)
    assert isinstance(errors.error_from_status(grpc.StatusCode.DATA_LOSS, "", service="s"), errors.Internal)
