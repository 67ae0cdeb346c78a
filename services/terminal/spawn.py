"""Starting a session's first process in a new PTY: the host's login shell, or `docker exec -it`
into an app service's running container (found by its Compose labels, as the deployer labels it),
on the engine of the app's server: this machine's, or a remote server's through the socket its SSH
connection forwards (services/common/engines.py).
Argument lists only; the shell gets a clean environment (none of AppOS's own variables).
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docker.errors import DockerException
from ptyprocess import PtyProcess

from services.common import engines
from services.common.errors import FailedPrecondition, NotFound, Unavailable
from services.common.labels import NUMBER_LABEL, PROJECT_LABEL, SERVICE_LABEL, is_oneoff, project_name
from services.terminal import processes
from services.terminal.processes import child_exited
from services.terminal.targets import Target

logger = logging.getLogger(__name__)

TERM = "xterm-256color"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Inside a container: bash when the image has it, else sh. `$0` carries the session's marker, by
# which the exec is found again (Docker shows its arguments) to end everything it started.
CONTAINER_SHELL = "if command -v bash >/dev/null 2>&1; then exec bash; fi; exec sh"
_KEEP_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
# How often the background lookup asks Docker for a new exec's pid.
LOOKUP_INTERVAL = 0.1
# A remote container's exec carries the session's marker in this variable, which every process it
# starts inherits: ending the session there runs END_SCRIPT in the container, which signals them.
SESSION_VARIABLE = "APPOS_TERMINAL_SESSION"
END_SCRIPT = f"""m="{SESSION_VARIABLE}=$0"
for sig in HUP TERM KILL; do
  left=""
  for f in /proc/[0-9]*/environ; do
    p=${{f#/proc/}}; p=${{p%/environ}}
    [ "$p" = "$$" ] && continue
    if grep -qsF "$m" "$f"; then kill -s "$sig" "$p" 2>/dev/null && left=1; fi
  done
  [ -z "$left" ] && exit 0
  sleep 1
done"""


@dataclass(frozen=True)
class Command:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    # docker exec only: the container, and the marker in the exec's arguments; the app's server
    container: str = ""
    marker: str = ""
    server: str = ""


@dataclass
class Spawned:
    """A running session process. `leaders()`: the session leaders whose processes belong to it."""

    process: Any  # PtyProcess
    exec_pid: Callable[[], int] = field(default=lambda: 0)
    # a remote container's exec: its processes are on another machine, ended from inside
    end_remote: Callable[[], None] | None = None

    def leaders(self) -> list[int]:
        return [self.process.pid, self.exec_pid()]

    def end(self) -> list[int]:
        """End every process of the session; returns the local ones still running after SIGKILL."""
        left = processes.end_sessions(self.leaders)
        if self.end_remote is not None:
            self.end_remote()  # after the local client is gone: the exec starts nothing more
        return left


def _child_setup() -> None:
    """In the child, before exec: undo what a Python parent leaves behind (ignored SIGPIPE and
    SIGXFSZ, blocked signals), and give files the usual permissions (AppOS itself runs with 077)."""
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    os.umask(0o022)


def _base_env(home: str, user: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
    env.update(
        {
            "HOME": home,
            "USER": user,
            "LOGNAME": user,
            "TERM": TERM,
            "PATH": os.environ.get("PATH") or DEFAULT_PATH,
        }
    )
    return env


def host_command(shell: list[str]) -> Command:
    me = pwd.getpwuid(os.getuid())
    argv = list(shell) or [me.pw_shell or "/bin/sh", "-l"]
    env = _base_env(me.pw_dir, me.pw_name)
    env["SHELL"] = argv[0]
    return Command(argv=argv, env=env, cwd=me.pw_dir if os.path.isdir(me.pw_dir) else "/")


class Spawner:
    def __init__(
        self,
        *,
        docker_factory: Callable[[], Any],
        check_app: Callable[[str], str],
        docker_host: str,
        sockets: Path | None = None,
        docker_cli: str = "docker",
        host_shell: list[str] | None = None,
    ) -> None:
        self._docker_factory = docker_factory  # this machine's engine, at `docker_host`
        self._check_app = check_app  # NotFound for an unknown app; else the app's server
        self._docker_host = docker_host
        self._sockets = sockets  # where remote servers' engines are forwarded
        self._docker_cli = docker_cli
        self._host_shell = host_shell or []

    def prepare(self, target: Target, session_id: str) -> Command:
        """The command for `target`, or a clear error (unknown app, service not running)."""
        if target.kind == "host":
            return host_command(self._host_shell)
        server = self._check_app(target.app) or engines.LOCAL  # NotFound: no such app
        container = self._container(target, server)
        cli = shutil.which(self._docker_cli)
        if cli is None:
            raise Unavailable(f"the Docker CLI ({self._docker_cli}) is not installed")
        marker = f"appos-terminal-{session_id}"
        me = pwd.getpwuid(os.getuid())
        env = _base_env(me.pw_dir, me.pw_name)
        env["DOCKER_HOST"] = self._engine(server)[0]
        argv = [cli, "exec", "-it", "-e", f"TERM={TERM}"]
        if engines.is_remote(server):
            argv += ["-e", f"{SESSION_VARIABLE}={marker}"]
        argv += [container, "sh", "-c", CONTAINER_SHELL, marker]
        return Command(argv=argv, env=env, cwd="/", container=container, marker=marker, server=server)

    def _engine(self, server: str) -> tuple[str, Callable[[], Any]]:
        """The DOCKER_HOST of the server's engine, and a client factory for it."""
        if not engines.is_remote(server):
            return self._docker_host, self._docker_factory
        if self._sockets is None:
            raise Unavailable(f"this terminal service cannot reach server {server!r}")
        factory = engines.factory_for(server, sockets=self._sockets, local=self._docker_factory)
        return engines.docker_host(self._sockets, server, ""), factory

    def _container(self, target: Target, server: str) -> str:
        project = f"{PROJECT_LABEL}={project_name(target.app)}"
        where = f" on server {server}" if engines.is_remote(server) else ""
        try:
            client = self._engine(server)[1]()
            try:
                found = client.containers.list(
                    ignore_removed=True,
                    all=True,
                    filters={"label": [project, f"{SERVICE_LABEL}={target.service}"]},
                )
                services = set()
                if not found:
                    every = client.containers.list(ignore_removed=True, all=True, filters={"label": project})
                    services = {c.labels.get(SERVICE_LABEL, "") for c in every}
            finally:
                client.close()
        except DockerException as exc:
            raise Unavailable(f"the Docker engine{where} is unavailable; try again in a moment") from exc
        found = [c for c in found if not is_oneoff(c.labels)]
        if not found:
            known = ", ".join(sorted(s for s in services if s)) or "none"
            raise NotFound(f"app {target.app!r} has no service {target.service!r} (services: {known})")
        running = sorted(
            (c for c in found if c.status == "running"),
            key=lambda c: int(c.labels.get(NUMBER_LABEL, "0") or 0),
        )
        if not running:
            raise FailedPrecondition(
                f"service {target.service!r} of app {target.app!r} is not running ({found[0].status})"
            )
        return str(running[0].id)

    def start(self, command: Command, *, cols: int, rows: int) -> Spawned:
        try:
            process = PtyProcess.spawn(
                command.argv,
                cwd=command.cwd,
                env=command.env,
                dimensions=(rows, cols),
                preexec_fn=_child_setup,
            )
        except OSError as exc:
            raise Unavailable(f"could not start {os.path.basename(command.argv[0])}: {exc.strerror}") from exc
        if not command.container:
            return Spawned(process=process)
        if engines.is_remote(command.server):
            # the exec's pid is the remote machine's: never one to signal here
            remote = RemoteExec(self._engine(command.server)[1], command.container, command.marker)
            return Spawned(process=process, end_remote=remote.end)
        leader = ExecLeader(self._docker_factory, command.container, command.marker, process)
        leader.find_in_background()
        return Spawned(process=process, exec_pid=leader.pid)


class ExecLeader:
    """The host pid of a `docker exec`'s process in the container (Docker's exec inspect), found by
    the marker in its arguments. Killing the local docker client does not end it (moby#9098)."""

    def __init__(self, docker_factory: Callable[[], Any], container: str, marker: str, client: Any) -> None:
        self._docker_factory = docker_factory
        self._container = container
        self._marker = marker
        self._client_process = client
        self._pid = 0
        self._lock = threading.Lock()

    def pid(self) -> int:
        """The pid, or 0 while Docker does not know it (yet: the exec starts a moment after the
        client; or at all: the exec failed). Asked again on every call until known, so a session
        ended in its first instant still finds it."""
        with self._lock:
            if not self._pid:
                self._pid = self._lookup()
            return self._pid

    def _lookup(self) -> int:
        try:
            docker = self._docker_factory()
            try:
                for exec_id in docker.api.inspect_container(self._container).get("ExecIDs") or []:
                    info = docker.api.exec_inspect(exec_id)
                    if self._marker in (info.get("ProcessConfig") or {}).get("arguments", []):
                        return int(info.get("Pid") or 0)
            finally:
                docker.close()
        except DockerException:
            logger.warning("could not look up the exec of container %s", self._container[:12], exc_info=True)
        return 0

    def find_in_background(self, *, timeout: float = 10.0) -> None:
        def find() -> None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not child_exited(self._client_process.pid):
                if self.pid():
                    return
                time.sleep(LOOKUP_INTERVAL)

        threading.Thread(target=find, name="exec-leader", daemon=True).start()


class RemoteExec:
    """Ends what a `docker exec` started in a remote server's container: Docker cannot end an exec
    (moby#9098) and its pid is the other machine's, so END_SCRIPT runs in the container (as a second
    exec, through the server's socket) and signals every process that carries the session's
    variable, until Docker says the session's exec is no longer running."""

    ATTEMPTS = 3

    def __init__(self, docker_factory: Callable[[], Any], container: str, marker: str) -> None:
        self._docker_factory = docker_factory
        self._container = container
        self._marker = marker

    def end(self) -> None:
        try:
            docker = self._docker_factory()
            try:
                for _ in range(self.ATTEMPTS):
                    if not self._running(docker):
                        return
                    ending = docker.api.exec_create(self._container, ["sh", "-c", END_SCRIPT, self._marker])
                    docker.api.exec_start(ending["Id"])
                if self._running(docker):
                    logger.warning(
                        "the exec %s in container %s still runs", self._marker, self._container[:12]
                    )
            finally:
                docker.close()
        except DockerException:
            logger.warning("could not end the exec %s in container %s", self._marker, self._container[:12])

    def _running(self, docker: Any) -> bool:
        """Whether the session's exec (the shell's, not an END_SCRIPT's) still runs."""
        for exec_id in docker.api.inspect_container(self._container).get("ExecIDs") or []:
            info = docker.api.exec_inspect(exec_id)
            arguments = (info.get("ProcessConfig") or {}).get("arguments", [])
            if self._marker in arguments and CONTAINER_SHELL in arguments and info.get("Running"):
                return True
        return False
