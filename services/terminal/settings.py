from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class TerminalSettings(CommonSettings):
    # A session nobody typed into for this long is ended (a client may ask for less, never more).
    terminal_idle_timeout_seconds: int = Field(default=15 * 60, ge=1)
    # A session ends this long after it started, however busy it is (a hard limit beside the idle one).
    terminal_max_seconds: int = Field(default=8 * 3600, ge=1)
    # A session whose connection dropped is kept this long for the client to attach again.
    terminal_grace_seconds: int = Field(default=120, ge=0)
    # Sessions one user may have at once (attached or waiting to be reattached).
    terminal_sessions_per_user: int = Field(default=5, ge=1)
    # Output kept per session and replayed on reattach.
    terminal_scrollback_bytes: int = Field(default=256 * 1024, ge=64 * 1024, le=16 * 1024 * 1024)
    # The host shell; empty: the login shell of the user AppOS runs as, with `-l`.
    terminal_host_shell: list[str] = []
    docker_host: str = "unix:///var/run/docker.sock"
    # The Docker CLI that runs `docker exec -it` for app shells (Debian's docker.io ships it).
    docker_cli: str = "docker"
    rpc_timeout_seconds: float = 10.0
    # Connections at once (each holds a thread of its own while attached; one more is refused).
    terminal_workers: int = 64
