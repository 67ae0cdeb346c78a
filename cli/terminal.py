"""An interactive terminal over `WS /api/v1/terminal/ws` (services/gateway/terminal_ws.py).

Binary frames carry terminal bytes both ways; JSON text frames carry control: `resize` from us,
`opened`, `exit`, `detached` and `error` from the server. The local tty is in raw mode while the
session runs (every key, Ctrl-C included, goes to the remote side) and SIGWINCH becomes `resize`.
The token travels in `Sec-WebSocket-Protocol` (`appos.v1, bearer.<token>`), never in the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import termios
import tty
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import typer
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from cli.client import LOGIN_HINT, CliError
from cli.config import Settings

PATH = "/api/v1/terminal/ws"
EOT = b"\x04"
QUIET_SECONDS = 0.5


@dataclass
class Ending:
    """How the session ended: the remote exit code (or 1) and what to tell the user."""

    code: int = 1
    message: str = ""
    resumable: bool = False  # the connection dropped; the session may wait to be attached again
    totp_required: bool = False  # refused: the login's user has two-factor authentication


class TotpRequired(CliError):
    """The terminal needs a two-factor code (a login's token, a user with 2FA)."""


def ws_url(base: str, *, target: str, cols: int, rows: int, session: str = "") -> str:
    """The terminal's WebSocket URL: a new session on `target`, or attach again to `session`."""
    parts = urllib.parse.urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    opening = {"session": session} if session else {"target": target}
    query = urllib.parse.urlencode({**opening, "cols": cols, "rows": rows})
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + PATH, query, ""))


def terminal_size() -> tuple[int, int]:
    """The real tty's size (COLUMNS/LINES only when there is no tty)."""
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
    except (OSError, ValueError):
        size = shutil.get_terminal_size((80, 24))
    return max(1, min(size.columns, 1000)), max(1, min(size.lines, 1000))


@contextlib.contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """The tty in raw mode for the block (nothing happens when `fd` is not a tty)."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)  # TCSAFLUSH (the default) would drop typeahead
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def ended_by(message: dict[str, Any]) -> Ending | None:
    """The ending a control message announces; None for the ones that do not end the session."""
    kind = message.get("type")
    if kind == "exit":
        code, sig = int(message.get("code") or 0), int(message.get("signal") or 0)
        reason = str(message.get("reason") or "")
        return Ending(code=128 + sig if sig else code, message=reason if reason and (code or sig) else "")
    if kind == "detached":
        return Ending(code=1, message=f"detached: {message.get('reason') or 'attached elsewhere'}")
    if kind == "error":
        text = str(message.get("message") or "terminal error")
        hint = f" — {LOGIN_HINT}" if message.get("code") == "unauthenticated" else ""
        return Ending(code=1, message=text + hint, totp_required=message.get("code") == "totp_required")
    return None


class Session:
    def __init__(self, ws: ClientConnection, stdin: int, stdout: int) -> None:
        self.ws = ws
        self.stdin = stdin
        self.stdout = stdout
        self.ending: Ending | None = None
        self.errors: list[str] = []
        self.last_output = 0.0
        self._eof_task: asyncio.Future[None] | None = None
        self._sending: set[asyncio.Future[None]] = set()

    async def opened(self) -> dict[str, Any]:
        """The server's first message: `opened`, or an error (then the connection closes)."""
        try:
            first = await asyncio.wait_for(self.ws.recv(), 30)
        except ConnectionClosed as exc:
            raise CliError(_closed_message(exc)) from exc
        message = json.loads(first) if isinstance(first, str) else {}
        if message.get("type") != "opened":
            ending = ended_by(message) or Ending(message="the terminal did not open")
            raise (TotpRequired if ending.totp_required else CliError)(ending.message)
        return dict(message)

    async def run(self) -> Ending:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.stdin, self._on_input)
        with contextlib.suppress(NotImplementedError, ValueError, RuntimeError):
            loop.add_signal_handler(signal.SIGWINCH, self._on_resize)
        try:
            await self._receive()
        finally:
            loop.remove_reader(self.stdin)
            if self._eof_task is not None:
                self._eof_task.cancel()
            with contextlib.suppress(NotImplementedError, ValueError, RuntimeError):
                loop.remove_signal_handler(signal.SIGWINCH)
        if self.ending is None:
            return Ending(message="the connection closed before the session ended")
        return self.ending

    async def _receive(self) -> None:
        """Output to the local terminal until the server closes. An `error` only ends the session
        when the connection closes after it (a bad resize, say, is answered and forgiven)."""
        try:
            async for frame in self.ws:
                if isinstance(frame, bytes):
                    self.last_output = asyncio.get_running_loop().time()
                    _write_all(self.stdout, frame)
                    continue
                with contextlib.suppress(json.JSONDecodeError, TypeError, AttributeError):
                    message = json.loads(frame)
                    ending = ended_by(message)
                    if message.get("type") == "error":
                        self.errors.append(str(message.get("message", "")))
                    elif ending is not None and self.ending is None:
                        self.ending = ending
        except ConnectionClosed as exc:
            if self.ending is None and not self.errors:
                dropped = exc.rcvd is None or exc.rcvd.code == 1006
                self.ending = Ending(message=_closed_message(exc), resumable=dropped)
        if self.ending is None and self.errors:
            self.ending = Ending(message=self.errors[-1])

    def _on_input(self) -> None:
        try:
            data = os.read(self.stdin, 65536)
        except OSError:
            data = b""
        if not data:
            # End of input (a pipe): read no more, and send EOF to the remote tty once its output
            # settles (a shell that is still busy, or asking the terminal something, drops typeahead).
            asyncio.get_running_loop().remove_reader(self.stdin)
            self._eof_task = asyncio.ensure_future(self._send_eof())
            return
        self._send(data)

    async def _send_eof(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            quiet = loop.time() - self.last_output
            if quiet < QUIET_SECONDS:
                await asyncio.sleep(QUIET_SECONDS - quiet)
                continue
            self._send(EOT)
            await asyncio.sleep(2.0)

    def _on_resize(self) -> None:
        cols, rows = terminal_size()
        self._send(json.dumps({"type": "resize", "cols": cols, "rows": rows}))

    def _send(self, payload: bytes | str) -> None:
        async def send() -> None:
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(payload)

        task = asyncio.ensure_future(send())
        self._sending.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._sending.discard)


def _closed_message(exc: ConnectionClosed) -> str:
    received = exc.rcvd
    if received is None:
        return "the connection dropped"
    reason = received.reason or f"closed with code {received.code}"
    if received.code == 4401:
        return f"{reason} — {LOGIN_HINT}"
    return reason


async def _session(settings: Settings, target: str, session_id: str, totp_code: str) -> Ending:
    cols, rows = terminal_size()
    url = ws_url(settings.url, target=target, cols=cols, rows=rows, session=session_id)
    protocols = [Subprotocol("appos.v1"), Subprotocol(f"bearer.{settings.token}")]
    if totp_code:
        protocols.append(Subprotocol(f"totp.{''.join(totp_code.split())}"))
    try:
        async with connect(url, subprotocols=protocols, open_timeout=15, max_size=2**22) as ws:
            session = Session(ws, sys.stdin.fileno(), sys.stdout.fileno())
            opened = await session.opened()
            with raw_mode(sys.stdin.fileno()):
                ending = await session.run()
            await ws.close()
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise CliError(f"the server refused the terminal (HTTP {status}); is this AppOS new enough?") from exc
    except (InvalidHandshake, OSError, TimeoutError) as exc:
        raise CliError(f"cannot open a terminal at {settings.url}: {exc}") from exc
    if ending.resumable and opened.get("session"):
        grace = opened.get("grace") or "a few"
        ending.message += f"; the session waits {grace} s: appos shell --session {opened['session']}"
    return ending


def open_terminal(settings: Settings, target: str, *, session_id: str = "", totp_code: str = "") -> int:
    """Run the session (a new one on `target`, or `session_id` attached again); the exit code.
    A login of a user with two-factor authentication needs a current code: asked at a tty."""
    if not settings.token:
        raise CliError(f"not logged in to {settings.url}: {LOGIN_HINT}")
    try:
        ending = asyncio.run(_session(settings, target, session_id, totp_code))
    except TotpRequired as exc:
        if totp_code or not sys.stdin.isatty():
            raise CliError(f"{exc.message} (appos shell --totp-code CODE)") from exc
        code = str(typer.prompt("Two-factor code")).strip()
        ending = asyncio.run(_session(settings, target, session_id, code))
    if ending.message:
        sys.stderr.write(f"{ending.message}\n")
    return ending.code
