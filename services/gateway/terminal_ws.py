"""WS /api/v1/terminal/ws: a browser's (or any client's) terminal, bridged to the terminal service's
bidirectional gRPC stream.

    ?target=host | app:<app>/<service>   what to open (host: admin; app: operator or admin)
    ?session=<id>                        or: attach again to a detached session of yours
    &cols=&rows=                         the initial size (default 80x24)
    &idle_timeout=<seconds>              a shorter idle timeout than the server's, for this session

The token travels as in the events WebSocket: `Sec-WebSocket-Protocol: appos.v1, bearer.<token>` or a
first text message `{"token": …}`; never in the URL. Then binary frames carry terminal data both
ways, and small JSON text frames carry control: `{"type": "resize", "cols", "rows"}` and
`{"type": "close"}` in; `opened`, `exit`, `detached` and `error` out (docs/architecture.md,
"Terminal"). A refusal is an `error` message followed by a close with code 4000 + the HTTP status.
Closing with code 1000 (or sending `{"type": "close"}`) ends the session; going away otherwise (1001, no
code, a dropped connection) only detaches it, for the grace period.

The connection holds a stream lease (`open_streams.py`; one more than the per-user limit is refused
with 4429). When the access that opened it ends (a revoked token, a signed-out, disabled or changed
user, a rotated signing key, a role below the target's), the client gets an `error` message and a
close with 4401 or 4403, and the session itself ends (reason `access_ended`), every process in it.

A login's session whose user has two-factor authentication also needs a current code: the
subprotocol `totp.<code>`, or `"totp_code"` in the first message (`second_factor.py`). Without one
the refusal's code is `totp_required` (close 4401); API tokens are never asked for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import Any

import grpc
import grpc.aio
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from appos.v1 import terminal_pb2, terminal_pb2_grpc
from services.common.clients import call_metadata, rpc_error
from services.common.errors import (
    AppOSError,
    Internal,
    InvalidArgument,
    Unauthenticated,
    Unavailable,
)
from services.gateway.context import Caller
from services.gateway.open_streams import Lease, OpenStreams
from services.gateway.streams import WS_AUTH_SECONDS
from services.gateway.ws import offered, open_websocket, refuse
from services.terminal.targets import check_role, parse_target

logger = logging.getLogger(__name__)

TERMINAL_WS_PATH = "/api/v1/terminal/ws"
MAX_INPUT_FRAME = 64 * 1024
# After the client closed (1000), how long the bridge waits for the session's exit.
CLOSE_WAIT_SECONDS = 10.0
NORMAL_CLOSURE = 1000
# The lowest role any terminal needs (an app shell); a host shell needs admin (`Target.min_role`).
TERMINAL_MIN_ROLE = "operator"


async def _token(websocket: WebSocket, header_token: str) -> tuple[str, str]:
    """The bearer token and the two-factor code offered (in the header, or in a first message)."""
    if header_token:
        return header_token, offered(websocket, "totp.")
    message = await asyncio.wait_for(websocket.receive(), WS_AUTH_SECONDS)
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    first = json.loads(message.get("text") or "null")
    token = first.get("token") if isinstance(first, dict) else None
    if not isinstance(token, str) or not token:
        raise Unauthenticated('send {"token": …} first, or offer "bearer.<token>" as a subprotocol')
    code = first.get("totp_code")
    return token, code if isinstance(code, str) else ""


def _number(query: Mapping[str, str], name: str, limit: int) -> int:
    value = query.get(name, "")
    if not value:
        return 0
    if not value.isdigit() or int(value) > limit:
        raise InvalidArgument(f"{name} must be a whole number from 0 to {limit}")
    return int(value)


def first_message(query: Mapping[str, str], caller: Caller) -> terminal_pb2.TerminalInput:
    """The stream's first message from the query; a target the caller's role may not open is refused
    here, before the terminal service (and any process) is involved."""
    cols, rows = _number(query, "cols", 1000), _number(query, "rows", 1000)
    session = query.get("session", "")
    if session:
        if len(session) > 64 or not all(c in "0123456789abcdef" for c in session):
            raise InvalidArgument("session must be a session id")
        attach = terminal_pb2.TerminalAttach(session_id=session, cols=cols, rows=rows)
        return terminal_pb2.TerminalInput(attach=attach)
    target = parse_target(query.get("target", ""))
    check_role(target, caller.role)
    idle = _number(query, "idle_timeout", 86400)
    return terminal_pb2.TerminalInput(
        open=terminal_pb2.TerminalOpen(target=str(target), cols=cols, rows=rows, idle_timeout_seconds=idle)
    )


def control_message(text: str) -> terminal_pb2.TerminalInput | None:
    """A JSON control frame from the client; None for what the bridge ignores (unknown types)."""
    try:
        control = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument("text frames must be JSON control messages; send data as binary") from exc
    if not isinstance(control, dict):
        raise InvalidArgument("a control message is a JSON object with a type")
    kind = control.get("type")
    if kind == "resize":
        cols, rows = control.get("cols"), control.get("rows")
        if not (isinstance(cols, int) and isinstance(rows, int) and 0 < cols <= 1000 and 0 < rows <= 1000):
            raise InvalidArgument("resize needs cols and rows, whole numbers from 1 to 1000")
        return terminal_pb2.TerminalInput(resize=terminal_pb2.TerminalResize(cols=cols, rows=rows))
    if kind == "close":
        return terminal_pb2.TerminalInput(close=terminal_pb2.TerminalClose())
    return None


def _opened_json(opened: terminal_pb2.TerminalOpened) -> dict[str, Any]:
    return {
        "type": "opened",
        "session": opened.session_id,
        "target": opened.target,
        "reattached": opened.reattached,
        "idle_timeout": opened.idle_timeout_seconds,
        "grace": opened.grace_seconds,
        "max_seconds": opened.max_seconds,
    }


class Bridge:
    """One WebSocket and one gRPC stream, once the session is open."""

    def __init__(self, websocket: WebSocket, call: Any, lease: Lease) -> None:
        self.websocket = websocket
        self.call = call
        self.lease = lease
        self.client_gone = False
        self.closed_normally = False
        self.session_over = False  # it exited, or another connection took it, or the service went

    @property
    def left_detached(self) -> bool:
        """The client went away without ending it: the session lives on for its grace period."""
        return not (self.closed_normally or self.session_over or self.lease.ended)

    async def _send(self, payload: bytes | dict[str, Any], *, close: int = 0, reason: str = "") -> None:
        if self.client_gone:
            return
        try:
            if isinstance(payload, bytes):
                await self.websocket.send_bytes(payload)
            else:
                await self.websocket.send_json(payload)
            if close:
                await self.websocket.close(code=close, reason=reason)
        except (RuntimeError, WebSocketDisconnect):
            self.client_gone = True

    async def downstream(self) -> None:
        """Session output to the client, until the session's exit (or the stream's end)."""
        try:
            while (reply := await self.call.read()) is not grpc.aio.EOF:
                kind = reply.WhichOneof("kind")
                if kind == "data":
                    await self._send(reply.data)
                elif kind == "exit":
                    self.session_over = True
                    exit_ = {"type": "exit", "code": reply.exit.code, "signal": reply.exit.signal}
                    await self._send({**exit_, "reason": reply.exit.reason}, close=NORMAL_CLOSURE)
                    return
                elif kind == "detached":
                    self.session_over = True
                    detached = {"type": "detached", "reason": reply.detached.reason}
                    await self._send(detached, close=4409, reason="attached elsewhere")
                    return
        except grpc.aio.AioRpcError as exc:
            self.session_over = True
            if not self.client_gone:
                await refuse(self.websocket, rpc_error(exc, service="terminal"))
            return
        self.session_over = True
        gone = {"type": "error", "code": "unavailable", "message": "the terminal service ended the stream"}
        await self._send(gone, close=1012, reason="the terminal service restarted")

    async def upstream(self) -> None:
        """Client frames to the session, until the client goes away. A normal close (1000) ends the
        session; any other way of going away only detaches it (the caller cancels the call)."""
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                self.client_gone = True
                # uvicorn reports a lost connection as 1005, like a close frame without a code: only
                # an explicit 1000 means "end it" (browsers: ws.close(1000), or send {"type": "close"})
                if message.get("code") == NORMAL_CLOSURE:
                    self.closed_normally = True
                    await self.call.write(terminal_pb2.TerminalInput(close=terminal_pb2.TerminalClose()))
                    await self.call.done_writing()
                return
            data, text = message.get("bytes"), message.get("text")
            if data:
                for start in range(0, len(data), MAX_INPUT_FRAME):
                    chunk = data[start : start + MAX_INPUT_FRAME]
                    await self.call.write(terminal_pb2.TerminalInput(data=chunk))
            elif text is not None:
                try:
                    control = control_message(text)
                except InvalidArgument as exc:
                    await self._send({"type": "error", "code": "invalid_argument", "message": exc.message})
                    continue
                if control is not None:
                    await self.call.write(control)

    async def access_ended(self, up: asyncio.Task[None]) -> None:
        """The access behind the connection ended: tell the client why and close it (it can type
        nothing more), then end the session and every process in it."""
        error = await self.lease.wait_ended()
        up.cancel()
        if not self.client_gone:
            await refuse(self.websocket, error)
            self.client_gone = True
        with contextlib.suppress(grpc.aio.AioRpcError, grpc.aio.UsageError):
            close = terminal_pb2.TerminalClose(reason="access_ended")
            await self.call.write(terminal_pb2.TerminalInput(close=close))
            await self.call.done_writing()
        self.closed_normally = True

    async def run(self) -> None:
        down = asyncio.create_task(self.downstream())
        up = asyncio.create_task(self.upstream())
        ended = asyncio.create_task(self.access_ended(up))
        try:
            await asyncio.wait({down, up, ended}, return_when=asyncio.FIRST_COMPLETED)
            if self.lease.ended:
                await ended
            if self.closed_normally and not down.done():
                # the session is ending: wait for its exit, so it is ended rather than detached
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(down), CLOSE_WAIT_SECONDS)
        finally:
            self.call.cancel()
            for task in (up, down, ended):
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                except Exception:  # noqa: BLE001 - the session is over either way; say how it ended
                    logger.debug("terminal relay: a pump ended with an error", exc_info=True)


def install_terminal(app: FastAPI, *, allowed_origins: list[str]) -> None:
    async def terminal_ws(websocket: WebSocket) -> None:
        runtime = websocket.app.state.runtime
        header_token = await open_websocket(websocket, allowed_origins)
        if header_token is None:
            return
        try:
            token, totp_code = await _token(websocket, header_token)
            caller: Caller = await runtime.authenticator.authenticate_token(token)
            address = websocket.client.host if websocket.client else "unknown"
            await runtime.second_factor.for_terminal(caller, totp_code, address=address)
            first = first_message(websocket.query_params, caller)
            channel = runtime.channels.get("terminal")
            if channel is None:
                raise Unavailable("the terminal service is not configured (APPOS_SERVICES)")
            streams: OpenStreams = runtime.streams
            session = first.attach.session_id if first.HasField("attach") else ""
            lease = await streams.take(caller, token, min_role=TERMINAL_MIN_ROLE, session=session)
        except (TimeoutError, ValueError, WebSocketDisconnect):
            await refuse(websocket, Unauthenticated('send {"token": …} first'))
            return
        except AppOSError as exc:
            await refuse(websocket, exc)
            return
        left: tuple[str, int] | None = None
        try:
            left = await _bridge(websocket, channel, caller, first, lease)
        finally:
            if left is None:
                await streams.release(lease)
            else:  # detached: still ended when the access that opened it ends
                _watch_detached(websocket.app, streams, channel, caller, lease, *left)

    app.router.add_websocket_route(TERMINAL_WS_PATH, terminal_ws)


async def _bridge(
    websocket: WebSocket, channel: Any, caller: Caller, first: terminal_pb2.TerminalInput, lease: Lease
) -> tuple[str, int] | None:
    """The session's (id, grace seconds) when the client left it detached, else None."""
    client = websocket.client.host if websocket.client else "unknown"
    call = terminal_pb2_grpc.TerminalStub(channel).Session(
        metadata=call_metadata(user=caller.username, role=caller.role, client=client)
    )
    try:
        await call.write(first)
        reply = await call.read()
    except grpc.aio.AioRpcError as exc:
        await refuse(websocket, rpc_error(exc, service="terminal"))
        return None
    if reply is grpc.aio.EOF or reply.WhichOneof("kind") != "opened":
        call.cancel()
        await refuse(websocket, Internal("the terminal service did not open the session"))
        return None
    # what the session needs from now on: a host shell (one attached again by id too) needs admin
    lease.min_role = parse_target(reply.opened.target).min_role
    opened = reply.opened
    lease.session = opened.session_id
    _stop_watching(websocket.app, opened.session_id, caller.username)  # attached again: this lease rules
    try:
        await websocket.send_json(_opened_json(opened))
    except (RuntimeError, WebSocketDisconnect):
        call.cancel()  # the client left already: the session is detached
        return opened.session_id, opened.grace_seconds
    bridge = Bridge(websocket, call, lease)
    await bridge.run()
    return (opened.session_id, opened.grace_seconds) if bridge.left_detached else None


def _watchers(app: Any) -> dict[str, tuple[str, asyncio.Task[None]]]:
    """session id → (its owner, the task watching it while it is detached)."""
    watchers: dict[str, tuple[str, asyncio.Task[None]]] | None = getattr(
        app.state, "detached_terminals", None
    )
    if watchers is None:
        watchers = {}
        app.state.detached_terminals = watchers
    return watchers


def _stop_watching(app: Any, session_id: str, owner: str) -> None:
    """Its owner attached again: the watcher gives the detached session's lease back, and the new
    connection's lease watches the session from now on."""
    watched = _watchers(app).get(session_id)
    if watched is not None and watched[0] == owner:
        del _watchers(app)[session_id]
        watched[1].cancel()


def _watch_detached(
    app: Any, streams: OpenStreams, channel: Any, caller: Caller, lease: Lease, session_id: str, grace: int
) -> None:
    """A detached session keeps its lease (it still counts, and is still re-checked) until it is
    attached again or its grace period is over; if the access behind it ends first, it is ended."""

    async def watch() -> None:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lease.wait_ended(), grace + 2 * streams.recheck_seconds)
                await _end_detached(channel, caller, session_id)
        finally:
            await streams.release(lease)
            watched = _watchers(app).get(session_id)
            if watched is not None and watched[1] is task:
                del _watchers(app)[session_id]

    _stop_watching(app, session_id, caller.username)
    task = asyncio.get_running_loop().create_task(watch())
    _watchers(app)[session_id] = (caller.username, task)


async def _end_detached(channel: Any, caller: Caller, session_id: str) -> None:
    """Attach to the session as its owner and close it, saying why (the audit shows access_ended)."""
    call = terminal_pb2_grpc.TerminalStub(channel).Session(
        metadata=call_metadata(user=caller.username, role=caller.role, client="appos")
    )
    try:
        await call.write(
            terminal_pb2.TerminalInput(attach=terminal_pb2.TerminalAttach(session_id=session_id))
        )
        close = terminal_pb2.TerminalClose(reason="access_ended")
        await call.write(terminal_pb2.TerminalInput(close=close))
        await call.done_writing()
        async with asyncio.timeout(CLOSE_WAIT_SECONDS):
            while (reply := await call.read()) is not grpc.aio.EOF:
                if reply.WhichOneof("kind") == "exit":
                    break
    except (grpc.aio.AioRpcError, grpc.aio.UsageError, TimeoutError):
        pass  # gone meanwhile, or the service is down: its grace period ends it anyway
    finally:
        call.cancel()
