"""The gateway's half of the audit log: which calls are audited, who made them, and what failed.

A call is audited when it may change something: a public method whose `google.api.http` rule is not
GET and its `(appos.v1.access)` option does not say `read_only` (the same rule for REST and the
public gRPC port; a method without a rule counts as mutating unless it is a stream). For such a call
the gateway sets the origin (`clients.origin_var`): the caller and role, the client's address, the
action (the method's full name), the target, the app and a nonce. Every service passes it on, and
state records the change in the change's own transaction (`services/state/audit.py`). After the call
the gateway adds, in the background (it never slows or fails the request):

- for a failure, an entry with the error code: a refused or failed call changed nothing, so state
  has none (401/403, validation errors, a wrong password);
- for a success, `AppendAudit(if_absent)`: an entry only when the call changed nothing in the
  database (cancelling a running deployment sets a Redis flag).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

from appos.v1 import audit_pb2, options_pb2, state_pb2, state_pb2_grpc
from services.common.clients import aio_call, call_metadata
from services.common.errors import AppOSError, InvalidArgument, Unauthenticated, grpc_code_for
from services.common.timestamps import datetime_us
from services.gateway.context import CallContext, Caller
from services.gateway.http_rules import access_of, route_for

logger = logging.getLogger(__name__)

# Request fields that name what a call acts on, when its path has no parameters.
_TARGET_FIELDS = ("name", "username", "domain", "id")
APPEND_TIMEOUT = 5.0
# Who a failed login was for when no such account exists: never the text typed (it may be a password).
UNKNOWN_USER = "unknown user"


class LoginRefused(Unauthenticated):
    """A wrong username or password. `account` is the user it was for, or UNKNOWN_USER: the audit
    entry names that, never what was typed."""

    def __init__(self, account: str) -> None:
        super().__init__("invalid username or password")
        self.account = account


@cache
def audited(method: MethodDescriptor) -> bool:
    if method.GetOptions().Extensions[options_pb2.access].read_only:
        return False  # a POST that stores nothing (POST /api/v1/apps:validate, as you type)
    route = route_for(method)
    if route is None:
        return not (method.server_streaming or method.client_streaming)
    return route.verb != "get"


@cache
def _path_params(method: MethodDescriptor) -> tuple[str, ...]:
    route = route_for(method)
    return tuple(route.path_params) if route else ()


def _metadata_safe(value: str, limit: int = 256) -> str:
    """gRPC metadata values are printable ASCII."""
    text = value.encode("ascii", "backslashreplace").decode()
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:limit]


def _field(message: Message | None, name: str) -> str:
    if message is None or name not in message.DESCRIPTOR.fields_by_name:
        return ""
    value = getattr(message, name)
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""


class AuditCall:
    """One audited call, filled in as the gateway learns who calls and what about."""

    def __init__(
        self, recorder: AuditRecorder, method: MethodDescriptor, *, client: str, request_id: str
    ) -> None:
        self._recorder = recorder
        self.action = f"{method.containing_service.full_name}.{method.name}"
        self._method = method
        self.client = client
        self.request_id = request_id
        self.actor, self.role, self.target, self.app = "-", "", "", ""
        self.nonce = uuid.uuid4().hex
        self._anonymous = access_of(method)[0]  # public methods (a login) have no caller

    def identify(self, caller: Caller) -> None:
        self.actor, self.role = caller.username, caller.role

    def describe(self, message: Message | None, path_params: Mapping[str, Any] | None = None) -> None:
        """Target and app from the path parameters (REST) or the request's fields. Not for a login:
        what was typed is never recorded; `done` names the account (or UNKNOWN_USER), and state the
        user of a login that succeeded (its event's subject)."""
        if self._anonymous:
            return
        names = _path_params(self._method)
        params = path_params if path_params is not None else {n: _field(message, n) for n in names}
        values = [str(params.get(n, "")) for n in names]
        self.target = "/".join(v for v in values if v)
        # a version named in the body (a rollback's) belongs to what was acted on: "blog/2"
        version = "" if "version" in names else _field(message, "version")
        if self.target and version not in ("", "0"):
            self.target += f"/{version}"
        if not self.target:
            self.target = next((v for f in _TARGET_FIELDS if (v := _field(message, f))), "")
        self.app = str(params.get("app", "")) or _field(message, "app")
        if not self.app and self._method.containing_service.full_name == "appos.v1.Apps":
            self.app = _field(message, "name")

    def origin(self) -> tuple[tuple[str, str], ...]:
        pairs = {
            "x-appos-user": "" if self.actor == "-" else self.actor,
            "x-appos-role": self.role,
            "x-appos-client": self.client,
            "x-appos-action": self.action,
            "x-appos-target": self.target,
            "x-appos-app": self.app,
            "x-appos-call": self.nonce,
        }
        return tuple((key, _metadata_safe(value)) for key, value in pairs.items() if value)

    def done(self, exc: BaseException | None) -> None:
        if isinstance(exc, asyncio.CancelledError):
            return  # the client went away: whatever committed is recorded by state
        if exc is None:
            result, message = "ok", ""
        elif isinstance(exc, AppOSError):
            result, message = grpc_code_for(exc).name.lower(), exc.message
            if isinstance(exc, LoginRefused):
                self.actor = self.target = exc.account
        elif isinstance(code := getattr(exc, "code", None), str):  # the gateway's own HTTPProblem
            result, message = code, str(getattr(exc, "message", ""))
        else:
            result, message = "internal", "internal error"
        entry = audit_pb2.AuditEntry(
            actor=self.actor, role=self.role, action=self.action, target=self.target, app=self.app,
            result=result, message=message, client=self.client, request_id=self.request_id,
        )  # fmt: skip
        self._recorder.append(entry, if_absent=exc is None, nonce=self.nonce)


class AuditRecorder:
    """Appends entries from background tasks (kept referenced until they end)."""

    def __init__(self, state: state_pb2_grpc.StateStub) -> None:
        self._state = state
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, method: MethodDescriptor, *, client: str, request_id: str) -> AuditCall | None:
        if not audited(method):
            return None
        return AuditCall(self, method, client=client, request_id=request_id)

    def append(self, entry: audit_pb2.AuditEntry, *, if_absent: bool, nonce: str) -> None:
        task = asyncio.get_running_loop().create_task(self._append(entry, if_absent, nonce))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _append(self, entry: audit_pb2.AuditEntry, if_absent: bool, nonce: str) -> None:
        request = state_pb2.StateAppendAuditRequest(entry=entry, if_absent=if_absent)
        try:
            await aio_call(
                self._state.AppendAudit,
                request,
                service="state",
                timeout=APPEND_TIMEOUT,
                metadata=call_metadata(call=nonce),
            )
        except AppOSError as exc:
            logger.warning("could not record %s (%s) in the audit log: %s", entry.action, entry.result, exc)

    async def drain(self, timeout: float = 2.0) -> None:
        """Let pending entries reach state (at shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


def parse_time(name: str, value: str) -> int:
    """An RFC 3339 time from a query parameter, as microseconds; 0 when empty."""
    if not value:
        return 0
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidArgument(f"{name} must be an RFC 3339 time, e.g. 2026-05-01T12:00:00Z") from exc
    if parsed.tzinfo is None:
        raise InvalidArgument(f"{name} needs a time zone (Z or +hh:mm)")
    return datetime_us(parsed)


class AuditService:
    """The public Audit service, in the gateway: validates, then asks state."""

    def __init__(self, *, state: state_pb2_grpc.StateStub, rpc_timeout: float) -> None:
        self._state = state
        self._timeout = rpc_timeout

    async def ListAudit(
        self, request: audit_pb2.ListAuditRequest, ctx: CallContext
    ) -> audit_pb2.ListAuditReply:
        query = state_pb2.StateListAuditRequest(
            user=request.user,
            app=request.app,
            action=request.action,
            since_us=parse_time("since", request.since),
            until_us=parse_time("until", request.until),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        reply: audit_pb2.ListAuditReply = await aio_call(
            self._state.ListAudit, query, service="state", timeout=self._timeout, metadata=call_metadata()
        )
        return reply
