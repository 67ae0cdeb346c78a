"""The terminal process: PTY sessions (host shell, `docker exec` into app containers) over gRPC."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from appos.v1 import state_pb2, terminal_pb2, terminal_pb2_grpc
from services.common.clients import origin_var
from services.common.dockerd import docker_client
from services.common.grpc_server import build_server, serve_until_signalled
from services.common.logs import configure_logging, request_id_var
from services.common.state_client import StateClient
from services.terminal.registry import ENDED, STARTED, Limits, Registry
from services.terminal.servicer import TerminalServicer
from services.terminal.settings import TerminalSettings
from services.terminal.spawn import Spawner

logger = logging.getLogger(__name__)


# The audit log's actions for the two events (state records them with the caller's origin).
AUDIT_ACTIONS = {STARTED: "terminal.session_start", ENDED: "terminal.session_end"}


def build_registry(settings: TerminalSettings, state: StateClient) -> Registry:
    # The opening call's request id and origin (caller, role, client address), by session: the end
    # is recorded from another thread (the reaper, the PTY reader) with the same.
    opened: dict[str, tuple[tuple[str, str], ...]] = {}

    def audit(kind: str, subject: str, actor: str, payload: dict[str, Any]) -> None:
        session = str(payload.get("session", ""))
        if kind == STARTED:
            opened[session] = (("x-request-id", request_id_var.get()), *origin_var.get())
        caller = opened.pop(session, ()) if kind == ENDED else opened.get(session, ())
        app = subject.removeprefix("app:").split("/", 1)[0] if subject.startswith("app:") else ""
        extra = {
            "x-appos-action": AUDIT_ACTIONS.get(kind, kind),
            "x-appos-target": subject,
            "x-appos-app": app,
        }
        request = state_pb2.StateAppendEventRequest(
            type=kind, subject=subject, actor=actor, payload_json=json.dumps(payload)
        )
        try:
            state.stub.AppendEvent(
                request,
                metadata=(*(pair for pair in caller if pair[0] not in extra), *extra.items()),
            )
        except Exception:
            if kind == STARTED:
                opened.pop(session, None)  # not recorded: there is no session
            raise

    def check_app(app: str) -> str:
        """The app's server; NotFound for unknown apps."""
        record: state_pb2.AppRecord = state.stub.GetApp(state_pb2.StateGetAppRequest(name=app))
        return record.app.server

    spawner = Spawner(
        docker_factory=lambda: docker_client(settings.docker_host),
        check_app=check_app,
        docker_host=settings.docker_host,
        sockets=settings.sockets,
        docker_cli=settings.docker_cli,
        host_shell=settings.terminal_host_shell,
    )
    limits = Limits(
        idle_timeout=settings.terminal_idle_timeout_seconds,
        max_lifetime=settings.terminal_max_seconds,
        grace=settings.terminal_grace_seconds,
        sessions_per_user=settings.terminal_sessions_per_user,
        scrollback_bytes=settings.terminal_scrollback_bytes,
    )
    return Registry(spawner=spawner, audit=audit, limits=limits)


def main() -> None:
    os.umask(0o077)
    settings = TerminalSettings()
    configure_logging("terminal", settings.log_level)
    state = StateClient(settings.socket_path("state"), timeout=settings.rpc_timeout_seconds)
    registry = build_registry(settings, state)
    socket_path = settings.socket_path("terminal")
    server, _health = build_server(
        socket_path=socket_path,
        services=[
            (
                terminal_pb2_grpc.add_TerminalServicer_to_server,
                TerminalServicer(registry),
                terminal_pb2.DESCRIPTOR.services_by_name["Terminal"].full_name,
            )
        ],
        max_workers=4,  # health checks
        max_streams=settings.terminal_workers,
    )
    registry.run_reaper()
    serve_until_signalled(server, socket_path=socket_path, on_stop=registry.shutdown)
    state.close()


if __name__ == "__main__":
    main()
