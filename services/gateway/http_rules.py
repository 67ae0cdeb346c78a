"""The REST surface, read from the protos: each public method's `google.api.http` rule and access."""

from __future__ import annotations

import re
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import FileDescriptor, MethodDescriptor

from appos.v1 import (
    apps_pb2,
    audit_pb2,
    auth_pb2,
    backups_pb2,
    notifications_pb2,
    options_pb2,
    proxy_pb2,
    servers_pb2,
    stores_pb2,
    system_pb2,
    updates_pb2,
)
from services.common.roles import ROLES

# Every file whose services are public. Internal services (State, worker-only) are never listed.
PUBLIC_FILES: tuple[FileDescriptor, ...] = (
    auth_pb2.DESCRIPTOR,
    system_pb2.DESCRIPTOR,
    servers_pb2.DESCRIPTOR,
    stores_pb2.DESCRIPTOR,  # before apps: /api/v1/catalog/stores is not the template named "stores"
    apps_pb2.DESCRIPTOR,
    proxy_pb2.DESCRIPTOR,
    backups_pb2.DESCRIPTOR,
    audit_pb2.DESCRIPTOR,  # served by the gateway (gateway/audit.py), reading state
    notifications_pb2.DESCRIPTOR,
    updates_pb2.DESCRIPTOR,
)

# Public services served by another process, by the socket name of that process.
REMOTE_SERVICES: dict[str, str] = {
    "appos.v1.Catalog": "deployer",
    "appos.v1.Apps": "deployer",
    "appos.v1.Deployments": "deployer",
    "appos.v1.Proxy": "proxyctl",
    "appos.v1.Backups": "deployer",
    "appos.v1.Notifications": "deployer",
    "appos.v1.Updates": "deployer",
    "appos.v1.Stores": "deployer",
    "appos.v1.Servers": "deployer",
}

_PARAM = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_VERBS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Route:
    method: MethodDescriptor
    verb: str
    path: str
    body: str
    public: bool
    min_role: str

    @property
    def full_name(self) -> str:
        return f"{self.method.containing_service.full_name}.{self.method.name}"

    @property
    def path_params(self) -> list[str]:
        return _PARAM.findall(self.path)


def access_of(method: MethodDescriptor) -> tuple[bool, str]:
    """(public, min_role) of a method; without the option it is admin-only (fails closed)."""
    access = method.GetOptions().Extensions[options_pb2.access]
    min_role = access.min_role or "admin"
    if min_role not in ROLES:
        raise ValueError(f"{method.full_name}: unknown min_role {min_role!r}")
    return access.public, min_role


def route_for(method: MethodDescriptor) -> Route | None:
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return None
    rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
    verb = rule.WhichOneof("pattern")
    if verb not in _VERBS:
        raise ValueError(f"{method.full_name}: unsupported http pattern {verb!r}")
    path = getattr(rule, verb)
    fields = method.input_type.fields_by_name
    for name in _PARAM.findall(path):
        if name not in fields:
            raise ValueError(f"{method.full_name}: path parameter {name!r} is not a request field")
    if re.search(r"\{[^}]*[=.*][^}]*\}", path):
        raise ValueError(f"{method.full_name}: only simple {{field}} path parameters are supported")
    if rule.body not in ("", "*") and rule.body not in fields:
        raise ValueError(f"{method.full_name}: body field {rule.body!r} is not a request field")
    public, min_role = access_of(method)
    return Route(method=method, verb=verb, path=path, body=rule.body, public=public, min_role=min_role)


def public_routes(files: tuple[FileDescriptor, ...] = PUBLIC_FILES) -> list[Route]:
    routes = []
    for file in files:
        for service in file.services_by_name.values():
            for method in service.methods:
                if method.client_streaming or method.server_streaming:
                    continue  # streams are bridged by hand (WebSockets)
                route = route_for(method)
                if route is not None:
                    routes.append(route)
    return routes
