"""The gateway process: FastAPI on uvicorn, on APPOS_HOST:APPOS_PORT and its own Unix socket.

With APPOS_GATEWAY_PROCESSES above 1, supervisord runs that many of these; each binds APPOS_PORT
with SO_REUSEPORT, so the kernel spreads new connections over them, and each also serves
`APPOS_RUN_DIR/gateway-<n>.sock`, which reaches process n alone (a check of one process, the tests).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys

import uvicorn

from services.common.logs import configure_logging
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings

STARTUP_FAILURE = 3  # uvicorn's exit status when the app did not start


def listening_sockets(settings: GatewaySettings) -> list[socket.socket]:
    """The shared TCP port (SO_REUSEPORT when there are several processes: it is refused to a
    process of another user) and this process's Unix socket."""
    family, kind, proto, _, address = socket.getaddrinfo(
        settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    tcp = socket.socket(family, kind, proto)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if settings.gateway_processes > 1:
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    tcp.bind(address)
    path = settings.process_socket
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by this process's previous run
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(path))
    return [tcp, unix]


def main() -> None:
    os.umask(0o077)
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    sockets = listening_sockets(settings)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # our handlers, with redaction
        access_log=False,
        server_header=False,
        # uvicorn would believe X-Forwarded-For from any client on 127.0.0.1; forwarded.py decides
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        # terminal output is mostly incompressible bursts: deflating it cost a third of the throughput
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=sockets)
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            settings.process_socket.unlink()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
