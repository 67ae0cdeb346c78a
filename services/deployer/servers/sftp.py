"""Copying an app's folder to its server through one SFTP session (protocol version 3) kept open on
the server's SSH connection (`ssh -s … sftp`, multiplexed like every other session), so a deployment
opens no new session: each one costs the server a fork and, for an `sftp-server` subsystem or a
command, the user's login shell (~110 ms per copy on the test servers, whose root runs pyenv's init).

Only what a copy needs is spoken: lstat, open/read/write/close, fsetstat, mkdir and OpenSSH's
`posix-rename@openssh.com` (an atomic rename over an existing file). The folder's rules are those of
the copy it replaces: a file whose content is the same on the server is left alone (a container
that bind-mounts it keeps it), any other is written to a temporary file beside it and renamed over
it, folders are made, and files only the server has are kept (an app's data).

    Sessions       one Session per server, made on first use and again when its connection was
                   made anew; one copy at a time per server
    Session        one `sftp` subsystem over the server's connection; SftpError when it fails,
                   NoSftp when it cannot start (the caller copies another way)
    copy_folder()  the folder to the same path on the server, through a Session
"""

from __future__ import annotations

import os
import select
import struct
import subprocess
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# packet types (draft-ietf-secsh-filexfer-02)
_INIT, _VERSION = 1, 2
_OPEN, _CLOSE, _READ, _WRITE, _LSTAT, _FSETSTAT, _MKDIR, _REMOVE = 3, 4, 5, 6, 7, 10, 14, 13
_EXTENDED = 200
_STATUS, _HANDLE, _DATA, _ATTRS = 101, 102, 103, 105
_OK, _EOF, _NO_SUCH_FILE = 0, 1, 2
_READ_FLAG, _WRITE_FLAG, _CREAT, _TRUNC, _EXCL = 0x01, 0x02, 0x08, 0x10, 0x20
_ATTR_SIZE, _ATTR_UIDGID, _ATTR_PERMISSIONS = 1, 2, 4
_POSIX_RENAME = "posix-rename@openssh.com"
_CHUNK = 32768  # every SFTP server takes reads and writes of this size
_S_IFMT, _S_IFREG, _S_IFDIR = 0o170000, 0o100000, 0o040000


class SftpError(Exception):
    """The session failed or the server refused a request (`message` says which and why)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NoSftp(SftpError):
    """The session did not start: the server has no `sftp` subsystem, or its connection is down."""


@dataclass(frozen=True)
class Attrs:
    size: int | None
    permissions: int | None

    @property
    def is_file(self) -> bool:
        return self.permissions is not None and self.permissions & _S_IFMT == _S_IFREG

    @property
    def is_dir(self) -> bool:
        return self.permissions is not None and self.permissions & _S_IFMT == _S_IFDIR


class Session:
    """One SFTP subsystem session: `command` runs it (an `ssh … -s <host> sftp` argument list).
    Requests go one at a time; each waits at most `timeout` seconds for its answer."""

    def __init__(self, command: list[str], *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self._ids = 0
        try:
            self._send(_INIT, struct.pack(">I", 3))
            kind, payload = self._receive()
        except SftpError as exc:
            self.close()
            raise NoSftp(exc.message) from exc
        if kind != _VERSION:
            self.close()
            raise NoSftp(f"the server's SFTP answered {kind} to its start")
        self.extensions = _extensions(payload[4:])
        if _POSIX_RENAME not in self.extensions:
            self.close()
            raise NoSftp(f"the server's SFTP has no {_POSIX_RENAME} (OpenSSH's atomic rename)")

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        for pipe in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if pipe is not None:
                pipe.close()

    # --- requests ---

    def lstat(self, path: str) -> Attrs | None:
        """The path's attributes (a link's own), None when nothing is there."""
        kind, payload = self._request(_LSTAT, _string(path))
        if kind == _STATUS and _status_code(payload) == _NO_SUCH_FILE:
            return None
        return _attrs(self._expect(kind, payload, _ATTRS, f"lstat {path}"))

    def read(self, path: str) -> bytes:
        handle = self._open(path, _READ_FLAG)
        data = bytearray()
        try:
            while True:
                kind, payload = self._request(_READ, _string(handle) + struct.pack(">QI", len(data), _CHUNK))
                if kind == _STATUS and _status_code(payload) == _EOF:
                    return bytes(data)
                chunk = _read_string(self._expect(kind, payload, _DATA, f"read {path}"), 0)[0]
                data += chunk
        finally:
            self._close(handle, path)

    def write_new(self, path: str, data: bytes, mode: int) -> None:
        """A new file (refused when `path` exists) with `data` and the permission bits `mode`."""
        handle = self._open(path, _WRITE_FLAG | _CREAT | _EXCL | _TRUNC, mode)
        try:
            self._status(*self._request(_FSETSTAT, _string(handle) + _perm_attrs(mode)), f"chmod {path}")
            for offset in range(0, len(data), _CHUNK):
                chunk = data[offset : offset + _CHUNK]
                self._status(
                    *self._request(_WRITE, _string(handle) + struct.pack(">Q", offset) + _string(chunk)),
                    f"write {path}",
                )
        finally:
            self._close(handle, path)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._status(*self._request(_MKDIR, _string(path) + _perm_attrs(mode)), f"mkdir {path}")

    def rename(self, old: str, new: str) -> None:
        """`old` to `new`, replacing `new` atomically when it exists."""
        payload = _string(_POSIX_RENAME) + _string(old) + _string(new)
        self._status(*self._request(_EXTENDED, payload), f"rename {old} to {new}")

    def remove(self, path: str) -> None:
        self._status(*self._request(_REMOVE, _string(path)), f"remove {path}")

    def _open(self, path: str, flags: int, mode: int = 0o600) -> bytes:
        kind, payload = self._request(_OPEN, _string(path) + struct.pack(">I", flags) + _perm_attrs(mode))
        return _read_string(self._expect(kind, payload, _HANDLE, f"open {path}"), 0)[0]

    def _close(self, handle: bytes, path: str) -> None:
        self._status(*self._request(_CLOSE, _string(handle)), f"close {path}")

    # --- packets ---

    def _request(self, kind: int, body: bytes) -> tuple[int, bytes]:
        self._ids = (self._ids + 1) & 0xFFFFFFFF
        self._send(kind, struct.pack(">I", self._ids) + body)
        answer, payload = self._receive()
        if struct.unpack_from(">I", payload)[0] != self._ids:
            raise SftpError("the server's SFTP answered another request")
        return answer, payload[4:]

    def _expect(self, kind: int, payload: bytes, wanted: int, what: str) -> bytes:
        if kind == wanted:
            return payload
        if kind == _STATUS:
            raise SftpError(f"{what}: {_status_text(payload)}")
        raise SftpError(f"{what}: the server's SFTP answered {kind}")

    def _status(self, kind: int, payload: bytes, what: str) -> None:
        if _status_code(self._expect(kind, payload, _STATUS, what)) != _OK:
            raise SftpError(f"{what}: {_status_text(payload)}")

    def _send(self, kind: int, body: bytes) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(struct.pack(">IB", len(body) + 1, kind) + body)
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise SftpError(self._ended()) from exc

    def _receive(self) -> tuple[int, bytes]:
        header = self._read_exact(5)
        length, kind = struct.unpack(">IB", header)
        return kind, self._read_exact(length - 1)

    def _read_exact(self, size: int) -> bytes:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        data = b""
        while len(data) < size:
            if not poller.poll(self.timeout * 1000):
                self.close()
                raise SftpError(f"the server's SFTP did not answer within {self.timeout:.0f} s")
            chunk = os.read(fd, size - len(data))
            if not chunk:
                raise SftpError(self._ended())
            data += chunk
        return data

    def _ended(self) -> str:
        try:
            self._proc.wait(2)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        said = self._proc.stderr.read().decode(errors="replace").strip() if self._proc.stderr else ""
        lines = said.splitlines()
        return f"the SFTP session ended ({lines[-1] if lines else f'exit status {self._proc.returncode}'})"


class Sessions:
    """The servers' SFTP sessions, by server name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._sessions: dict[str, Session] = {}

    def copy(
        self, server: str, folder: Path, *, command: Callable[[], list[str]], timeout: float,
        dest: str = "",
    ) -> None:  # fmt: skip
        """`folder` to the server through its session (`command()` starts one when there is none, or
        the one there is ended with its connection; a copy that finds its session ended is made
        once more through a new one). NoSftp when no session starts; SftpError when the copy fails."""
        with self._lock:
            lock = self._locks.setdefault(server, threading.Lock())
        with lock:
            for _ in range(2):
                session = self._sessions.get(server)
                fresh = session is None or not session.alive
                if session is None or fresh:
                    if session is not None:
                        session.close()
                    session = self._sessions[server] = Session(command(), timeout=timeout)
                try:
                    copy_folder(session, folder, dest=dest)
                    return
                except SftpError:
                    ended = not session.alive
                    session.close()
                    del self._sessions[server]
                    if fresh or not ended:  # refused, or a new session failed: no second try
                        raise

    def close(self, server: str | None = None) -> None:
        """End the session of `server` (every session when None)."""
        with self._lock:
            names = [server] if server is not None else list(self._sessions)
            locks = [self._locks.setdefault(name, threading.Lock()) for name in names]
        for name, lock in zip(names, locks, strict=True):
            with lock:
                session = self._sessions.pop(name, None)
                if session is not None:
                    session.close()


def copy_folder(session: Session, folder: Path, *, dest: str = "") -> None:
    """`folder` to the server, at `dest` (the same path when empty; see the module's docstring);
    links are not copied (the policy refuses them in an app's folder)."""
    root = dest or str(folder)
    _make_parents(session, root)
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            continue
        target = f"{root}/{path.relative_to(folder)}"
        if path.is_dir():
            there = session.lstat(target)
            if there is None:
                session.mkdir(target)
            elif not there.is_dir:
                raise SftpError(f"{target} on the server is not a folder")
        elif path.is_file():
            _copy_file(session, path, target)


def _make_parents(session: Session, root: str) -> None:
    missing: list[Path] = []
    for parent in [Path(root), *Path(root).parents]:
        there = session.lstat(str(parent))
        if there is not None:
            if not there.is_dir:
                raise SftpError(f"{parent} on the server is not a folder")
            break
        missing.append(parent)
    for parent in reversed(missing):
        session.mkdir(str(parent))


def _copy_file(session: Session, path: Path, target: str) -> None:
    data = path.read_bytes()
    there = session.lstat(target)
    if there is not None and there.is_file and there.size == len(data) and session.read(target) == data:
        return  # the same: left alone
    temporary = f"{target.rpartition('/')[0]}/.appos-sync-{uuid.uuid4().hex}"
    session.write_new(temporary, data, path.stat().st_mode & 0o7777)
    try:
        session.rename(temporary, target)
    except SftpError:
        session.remove(temporary)
        raise


# --- encoding ---


def _string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack(">I", len(raw)) + raw


def _read_string(payload: bytes, offset: int) -> tuple[bytes, int]:
    (length,) = struct.unpack_from(">I", payload, offset)
    start = offset + 4
    return payload[start : start + length], start + length


def _perm_attrs(mode: int) -> bytes:
    return struct.pack(">II", _ATTR_PERMISSIONS, mode)


def _attrs(payload: bytes) -> Attrs:
    (flags,) = struct.unpack_from(">I", payload)
    offset, size, permissions = 4, None, None
    if flags & _ATTR_SIZE:
        (size,) = struct.unpack_from(">Q", payload, offset)
        offset += 8
    if flags & _ATTR_UIDGID:
        offset += 8
    if flags & _ATTR_PERMISSIONS:
        (permissions,) = struct.unpack_from(">I", payload, offset)
    return Attrs(size=size, permissions=permissions)


def _status_code(payload: bytes) -> int:
    return int(struct.unpack_from(">I", payload)[0])


def _status_text(payload: bytes) -> str:
    try:
        message = _read_string(payload, 4)[0].decode(errors="replace")
    except struct.error:
        message = ""
    return message or f"status {_status_code(payload)}"


def _extensions(payload: bytes) -> dict[str, str]:
    found: dict[str, str] = {}
    offset = 0
    while offset < len(payload):
        name, offset = _read_string(payload, offset)
        value, offset = _read_string(payload, offset)
        found[name.decode(errors="replace")] = value.decode(errors="replace")
    return found
