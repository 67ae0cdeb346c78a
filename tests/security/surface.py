"""The attack surface, enumerated from the running stack: REST operations from its /openapi.json
and public gRPC methods from reflection on its public port. The role each one needs is read from
the `(appos.v1.access)` option of the method's descriptor (the reflected one for gRPC; for REST, the
descriptor of the operation's `Service_Method` id), so a route added later is checked without
being listed here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from appos.v1 import options_pb2
from services.common.roles import ROLES

PUBLIC = "public"
_ROLE_TEXT = re.compile(r"Needs the (viewer|operator|admin) role")


def access_role(options: descriptor_pb2.MethodOptions) -> str:
    """`public` or the lowest role; a method without the option is admin-only (fails closed)."""
    access = options.Extensions[options_pb2.access]
    if access.public:
        return PUBLIC
    return access.min_role or "admin"


@dataclass(frozen=True)
class RestOperation:
    method: str
    path: str
    operation_id: str
    role: str
    body_type: str | None  # the request body's media type, if it takes one

    def url(self) -> str:
        return re.sub(r"\{[^}]+\}", "sectest1", self.path)


@dataclass(frozen=True)
class GrpcMethod:
    service: str
    name: str
    role: str
    server_streaming: bool
    client_streaming: bool

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.name}"


def rest_operations(document: dict[str, Any], descriptors: dict[str, str]) -> list[RestOperation]:
    """`descriptors`: gRPC full method names → role, from reflection (operationId Service_Method)."""
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            op_id = operation.get("operationId", "")
            service, _, name = op_id.partition("_")
            role = descriptors.get(f"appos.v1.{service}.{name}")
            if role is None:  # a hand-written route: its document entry says what it needs
                if operation.get("security") == []:
                    role = PUBLIC
                else:
                    match = _ROLE_TEXT.search(operation.get("description", ""))
                    assert match, f"{method.upper()} {path}: no descriptor and no stated role"
                    role = match.group(1)
            content = operation.get("requestBody", {}).get("content", {})
            found.append(
                RestOperation(
                    method=method.upper(),
                    path=path,
                    operation_id=op_id,
                    role=role,
                    body_type=next(iter(content), None),
                )
            )
    return found


def _reflect(channel: grpc.Channel, request: reflection_pb2.ServerReflectionRequest) -> Any:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    return next(iter(stub.ServerReflectionInfo(iter([request]), timeout=10)))


def grpc_methods(channel: grpc.Channel) -> list[GrpcMethod]:
    """Every method of every service the public port lists, with its role from the reflected
    descriptor's options (health and reflection are the transport's own and skipped)."""
    listed = _reflect(channel, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = [s.name for s in listed.list_services_response.service]
    methods = []
    for service in names:
        if service.startswith("grpc."):
            continue
        reply = _reflect(channel, reflection_pb2.ServerReflectionRequest(file_containing_symbol=service))
        for raw in reply.file_descriptor_response.file_descriptor_proto:
            file = descriptor_pb2.FileDescriptorProto.FromString(raw)
            for svc in file.service:
                if f"{file.package}.{svc.name}" != service:
                    continue
                for m in svc.method:
                    methods.append(
                        GrpcMethod(
                            service=service,
                            name=m.name,
                            role=access_role(m.options),
                            server_streaming=m.server_streaming,
                            client_streaming=m.client_streaming,
                        )
                    )
    return methods


def allowed(role: str, needed: str) -> bool:
    return needed == PUBLIC or ROLES.index(role) >= ROLES.index(needed)
