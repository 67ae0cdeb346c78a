"""The public gRPC port: reflection, health, the same tokens and roles as REST, and calls that end
where the REST ones do."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from appos.v1 import apps_pb2, apps_pb2_grpc, auth_pb2, auth_pb2_grpc
from tests.harness import Stack


@pytest.fixture
def channel(stack: Stack) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{stack.env['APPOS_GRPC_PORT']}") as ch:
        yield ch


def _bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def test_reflection_lists_the_public_services_only(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
    )
    names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert {"appos.v1.Auth", "appos.v1.System", "appos.v1.Apps", "appos.v1.Catalog", "appos.v1.Deployments",
            "appos.v1.Proxy", "grpc.health.v1.Health"} <= names  # fmt: skip
    assert "appos.v1.State" not in names


def test_health(channel: grpc.Channel) -> None:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_no_token_bad_token_and_viewer_mutation(
    stack: Stack, admin_token: str, channel: grpc.Channel
) -> None:
    auth = auth_pb2_grpc.AuthStub(channel)
    with pytest.raises(grpc.RpcError) as missing:
        auth.Me(auth_pb2.MeRequest(), timeout=10)
    assert missing.value.code() is grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as bad:
        auth.Me(auth_pb2.MeRequest(), metadata=_bearer("nonsense"), timeout=10)
    assert bad.value.code() is grpc.StatusCode.UNAUTHENTICATED
    name, password = f"g{uuid.uuid4().hex[:8]}", "viewer-password"
    created = auth.CreateUser(
        auth_pb2.CreateUserRequest(username=name, password=password, role="viewer"),
        metadata=_bearer(admin_token),
        timeout=30,
    )
    assert created.role == "viewer"
    viewer = auth.Login(auth_pb2.LoginRequest(username=name, password=password), timeout=30).access_token
    assert auth.Me(auth_pb2.MeRequest(), metadata=_bearer(viewer), timeout=10).username == name
    with pytest.raises(grpc.RpcError) as denied:
        apps_pb2_grpc.AppsStub(channel).CreateApp(
            apps_pb2.CreateAppRequest(name="nope", template="busybox-httpd"),
            metadata=_bearer(viewer),
            timeout=10,
        )
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED


def test_bad_input_is_invalid_argument(admin_token: str, channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as bad:
        apps_pb2_grpc.AppsStub(channel).CreateApp(
            apps_pb2.CreateAppRequest(name="../x", template="busybox-httpd"),
            metadata=_bearer(admin_token),
            timeout=10,
        )
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "app name" in (bad.value.details() or "")


@pytest.mark.usefixtures("busybox_image")
def test_a_deploy_through_grpc_shows_up_in_rest(
    stack: Stack, admin_token: str, channel: grpc.Channel
) -> None:
    app = f"grpc{uuid.uuid4().hex[:6]}"
    reply = apps_pb2_grpc.AppsStub(channel).CreateApp(
        apps_pb2.CreateAppRequest(name=app, template="busybox-crash"),
        metadata=_bearer(admin_token),
        timeout=30,
    )
    assert reply.deployment.status == "pending"
    ended = stack.wait_deployment(admin_token, reply.deployment.id)
    assert ended["status"] == "failed" and ended["actor"] == "admin"
    with stack.client(admin_token) as c:
        assert c.get(f"/api/v1/apps/{app}").json()["name"] == app
    logs = list(
        apps_pb2_grpc.AppsStub(channel).GetAppLogs(
            apps_pb2.GetAppLogsRequest(app=app), metadata=_bearer(admin_token), timeout=30
        )
    )
    assert any(line.line == "cannot continue" for line in logs)
    assert stack.act(admin_token, app, "remove")["status"] == "succeeded"
