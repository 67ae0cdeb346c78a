"""What a terminal opens: `host` (a login shell where AppOS runs; admin only) or
`app:<app>/<service>` (a shell in that service's running container; operator and admin).

Pure code: the gateway uses it to refuse a request before it reaches the terminal service, and the
terminal service checks again.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.errors import InvalidArgument, PermissionDenied
from services.common.names import validate_app_name, validate_service_name
from services.common.roles import role_allows


@dataclass(frozen=True)
class Target:
    kind: str  # "host" or "app"
    app: str = ""
    service: str = ""

    def __str__(self) -> str:
        return "host" if self.kind == "host" else f"app:{self.app}/{self.service}"

    @property
    def min_role(self) -> str:
        return "admin" if self.kind == "host" else "operator"


def parse_target(text: str) -> Target:
    if text == "host":
        return Target(kind="host")
    app, sep, service = text.removeprefix("app:").partition("/")
    if not text.startswith("app:") or not sep:
        raise InvalidArgument("target must be 'host' or 'app:<app>/<service>'")
    validate_app_name(app)
    validate_service_name(service)
    return Target(kind="app", app=app, service=service)


def check_role(target: Target, role: str) -> None:
    if not role_allows(role, target.min_role):
        what = "a host shell" if target.kind == "host" else "a shell in an app's container"
        raise PermissionDenied(f"{what} needs the {target.min_role} role; you are {role or 'nobody'}")
