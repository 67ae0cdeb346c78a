"""The internal Terminal service: one bidirectional stream per connection to a session.

The caller comes from the gateway as `x-appos-user` / `x-appos-role` metadata (Unix socket only:
the gateway is trusted, and it has checked the token and the role already; the registry checks the
role again). The common error interceptor covers unary methods only, so this stream maps its
AppOSErrors to status codes itself, the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import grpc

from appos.v1 import terminal_pb2, terminal_pb2_grpc
from services.common.clients import origin_from, origin_var
from services.common.errors import (
    APPOS_ERROR_KEY,
    AppOSError,
    InvalidArgument,
    Unauthenticated,
    grpc_code_for,
)
from services.common.logs import request_id_var
from services.terminal.registry import Registry
from services.terminal.sessions import Attachment, Detached, Exit, Session
from services.terminal.targets import parse_target

logger = logging.getLogger(__name__)

# Why a caller may end a session (TerminalClose.reason) → the reason recorded.
CLOSE_REASONS = {"": "closed", "access_ended": "access_ended"}


def _output_pb(item: bytes | Exit | Detached) -> terminal_pb2.TerminalOutput:
    if isinstance(item, bytes):
        return terminal_pb2.TerminalOutput(data=item)
    if isinstance(item, Exit):
        return terminal_pb2.TerminalOutput(
            exit=terminal_pb2.TerminalExit(code=item.code, signal=item.signal, reason=item.reason)
        )
    return terminal_pb2.TerminalOutput(detached=terminal_pb2.TerminalDetached(reason=item.reason))


def _pump_input(
    requests: Iterator[terminal_pb2.TerminalInput], session: Session, attachment: Attachment
) -> None:
    """Keystrokes, resizes and close from the connection, until it hangs up or is displaced."""
    try:
        for message in requests:
            if not attachment.active:
                return
            kind = message.WhichOneof("kind")
            if kind == "data":
                session.write(message.data, attachment)
            elif kind == "resize":
                session.resize(message.resize.cols, message.resize.rows)
            elif kind == "close":
                session.terminate(CLOSE_REASONS.get(message.close.reason, "closed"))
    except grpc.RpcError:
        pass  # the connection went away: the RPC's callback detaches it


class TerminalServicer(terminal_pb2_grpc.TerminalServicer):
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def _begin(
        self, first: terminal_pb2.TerminalInput, user: str, role: str
    ) -> tuple[Session, Attachment, bool]:
        kind = first.WhichOneof("kind")
        if kind == "open":
            session, attachment = self.registry.open(
                user=user,
                role=role,
                target=parse_target(first.open.target),
                cols=first.open.cols,
                rows=first.open.rows,
                idle_timeout=first.open.idle_timeout_seconds,
            )
            return session, attachment, False
        if kind == "attach":
            session, attachment = self.registry.attach(
                session_id=first.attach.session_id,
                user=user,
                role=role,
                cols=first.attach.cols,
                rows=first.attach.rows,
            )
            return session, attachment, True
        raise InvalidArgument("the first message must be open or attach")

    def Session(
        self, request_iterator: Iterator[terminal_pb2.TerminalInput], context: grpc.ServicerContext
    ) -> Iterator[terminal_pb2.TerminalOutput]:
        metadata = dict(context.invocation_metadata() or ())
        token = request_id_var.set(str(metadata.get("x-request-id", "-"))[:64])
        origin_token = origin_var.set(origin_from(metadata))  # the caller, for the audit log
        try:
            user, role = str(metadata.get("x-appos-user", "")), str(metadata.get("x-appos-role", ""))
            if not user:
                raise Unauthenticated("no caller: terminals are opened through the gateway")
            first = next(request_iterator, None)
            if first is None:
                return
            session, attachment, reattached = self._begin(first, user, role)
        except AppOSError as exc:
            context.set_trailing_metadata(((APPOS_ERROR_KEY, "1"),))
            context.abort(grpc_code_for(exc), exc.message)
        except Exception:  # noqa: BLE001 - logged once, answered generically
            logger.exception("unhandled error opening a terminal session")
            context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {request_id_var.get()})")
        finally:
            request_id_var.reset(token)
            origin_var.reset(origin_token)
        if not context.add_callback(lambda: session.detach(attachment)):
            session.detach(attachment)  # the caller is already gone
            return
        threading.Thread(
            target=_pump_input,
            args=(request_iterator, session, attachment),
            name="terminal-input",
            daemon=True,
        ).start()
        yield terminal_pb2.TerminalOutput(
            opened=terminal_pb2.TerminalOpened(
                session_id=session.id,
                target=str(session.target),
                reattached=reattached,
                idle_timeout_seconds=int(session.idle_timeout),
                grace_seconds=int(self.registry.limits.grace),
                max_seconds=int(self.registry.limits.max_lifetime),
            )
        )
        for item in session.output(attachment):
            yield _output_pb(item)
