"""A loopback port of this machine reachable at the same port on the loopback of a test's network
namespace (tests/remote.py), so that a remote server's engine pulls from the test's registry on
127.0.0.1 as this machine's engine does (Docker trusts a plain-HTTP registry on loopback only):

    netns 127.0.0.1:<port> ── this file, run in the namespace ── <run_dir>/bridge-<port>.sock
        ── a thread of the test ── 127.0.0.1:<port> (the registry)

A Unix socket is a file, and files are shared across network namespaces: that is the one way
through. Nothing leaves the machine; `bridged_port` stops both ends on exit."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # run as a script in the namespace, this file imports nothing of the tests
    from tests.remote import RemoteServer


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _join(accepted: socket.socket, connect: socket.socket) -> None:
    """Both directions of one connection, each on its own thread; both sockets closed at the end."""

    def both() -> None:
        back = threading.Thread(target=_pump, args=(connect, accepted), daemon=True)
        back.start()
        _pump(accepted, connect)
        back.join()
        accepted.close()
        connect.close()

    threading.Thread(target=both, daemon=True).start()


def _serve(listener: socket.socket, connect: object) -> None:
    """Accept until the listener is closed; each connection joined to a new one `connect()` makes."""
    while True:
        try:
            accepted, _ = listener.accept()
        except OSError:
            return
        try:
            outgoing = connect()  # type: ignore[operator]
        except OSError:
            accepted.close()
            continue
        _join(accepted, outgoing)


@contextlib.contextmanager
def bridged_port(server: RemoteServer, port: int) -> Iterator[None]:
    """127.0.0.1:`port` of this machine also at 127.0.0.1:`port` inside `server`'s namespace."""
    from tests.remote import tool

    path = server.run_dir / f"bridge-{port}.sock"
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(16)
    threading.Thread(
        target=_serve,
        args=(listener, lambda: socket.create_connection(("127.0.0.1", port), timeout=30)),
        daemon=True,
    ).start()
    inside = subprocess.Popen(
        [tool("nsenter"), f"--net=/run/netns/{server.netns}", sys.executable, __file__, str(port), str(path)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert inside.stdout is not None
        ready = inside.stdout.readline().decode().strip()
        assert ready == "ready", f"the bridge into {server.netns} did not start ({inside.poll()})"
        yield
    finally:
        inside.terminate()
        try:
            inside.wait(timeout=10)
        except subprocess.TimeoutExpired:
            inside.kill()
            inside.wait()
        if inside.stdout is not None:
            inside.stdout.close()
        listener.close()
        path.unlink(missing_ok=True)


def _inside(port: int, path: str) -> None:
    """In the namespace: 127.0.0.1:`port` joined to the Unix socket `path`."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)

    def connect() -> socket.socket:
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.connect(path)
        return unix

    sys.stdout.write("ready\n")
    sys.stdout.flush()
    _serve(listener, connect)


if __name__ == "__main__":  # run by `bridged_port` inside the namespace
    _inside(int(sys.argv[1]), sys.argv[2])
