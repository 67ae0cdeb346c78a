"""`make run` (and the image's command): check the ports, prepare APPOS_DATA, then become
supervisord (exec, same pid: nothing waits beside it). A forked helper prints the URL and the admin
login once /health answers. When no Docker engine answers, supervisord also runs `dockerd` (program
`dockerd`), so Ctrl-C, which stops supervisord, stops everything this started.

The test harness uses the same functions to start real stacks in temporary folders.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NoReturn

from pydantic import Field, SecretStr

from services.common.dockerd import docker_answers
from services.common.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[1]
SUPERVISORD_CONF = ROOT / "supervisord.conf"


def supervise_command(*args: str) -> list[str]:
    """`python -OO -m services.supervise …`: supervisord and the services it forks run without
    docstrings and asserts (the services' asserts only narrow types), ~12 MiB less in all.
    APPOS_PYTHON_OPTIMIZE=0 (the image, whose read-only venv holds no -OO bytecode) or 1 lowers it."""
    level = os.environ.get("APPOS_PYTHON_OPTIMIZE", "2")
    flags = {"0": [], "1": ["-O"]}.get(level, ["-OO"])
    return [sys.executable, *flags, "-m", "services.supervise", *args, "-c", str(SUPERVISORD_CONF)]


class LaunchSettings(CommonSettings):
    host: str = "127.0.0.1"
    port: int = 8080
    gateway_processes: int = Field(default=1, ge=1, le=8)  # as services/gateway/settings.py
    grpc_port: int = 8081
    proxy_http_port: int = 80
    proxy_https_port: int = 443
    admin_password: SecretStr | None = None


def prepare_data_dir(data: Path, run_dir: Path) -> None:
    for folder in (data, data / "log", data / "redis", data / "secrets", run_dir):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)


def supervisor_env(*, data: Path, run_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "APPOS_DATA": str(data),
            "APPOS_RUN": str(run_dir),
            "APPOS_RUN_DIR": str(run_dir),
            "APPOS_ROOT": str(ROOT),
            "APPOS_PYTHON": sys.executable,
            "PYTHONUNBUFFERED": "1",
        }
    )
    # Caddy's bootstrap Caddyfile reads these; proxyctl reads the same settings
    env.setdefault("APPOS_PROXY_HTTP_PORT", "80")
    env.setdefault("APPOS_PROXY_HTTPS_PORT", "443")
    env.setdefault("APPOS_DOCKERD_AUTOSTART", "false")
    # -OO reads its own .opt-2.pyc files: let the first start write them, or every start compiles
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra or {})
    processes = gateway_processes(env)
    env["APPOS_GATEWAY_PROCESSES"] = str(processes)
    env["APPOS_GATEWAY_EXTRA_PROCESSES"] = str(processes - 1)  # supervisord.conf's [program:gateway-extra]
    # a Caddy of its own (deploy/docker-compose.yml) is reached at APPOS_CADDY_ADMIN: do not start ours
    env["APPOS_CADDY_AUTOSTART"] = "false" if env.get("APPOS_CADDY_ADMIN") else "true"
    return env


def gateway_processes(env: dict[str, str]) -> int:
    """APPOS_GATEWAY_PROCESSES (default 1), checked as the gateway checks it."""
    value = env.get("APPOS_GATEWAY_PROCESSES", "").strip() or "1"
    processes = int(value) if value.isdigit() else 0
    if not 1 <= processes <= 8:
        raise ValueError(f"APPOS_GATEWAY_PROCESSES must be a number from 1 to 8, not {value!r}")
    return processes


def start_supervisord(env: dict[str, str], *, output: Path) -> subprocess.Popen[bytes]:
    """supervisord in the foreground of its own session (so a terminal's Ctrl-C reaches only us)."""
    with open(output, "ab") as out:
        return subprocess.Popen(
            supervise_command(),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def health_status(url: str, timeout: float = 3.0) -> int:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return 0


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if health_status(url) == 200:
            return True
        time.sleep(0.2)
    return False


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 45.0) -> None:
    """SIGTERM, then SIGKILL to its process group after `timeout`: for supervisord, above the
    deployer's stopwaitsecs (20) plus the others', or its programs would be left running."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def admin_login_line(data: Path, settings: LaunchSettings) -> str:
    password_file = data / "admin-password"
    if password_file.exists():
        return f"user admin, password {password_file.read_text().strip()}"
    if settings.admin_password is not None:
        return "user admin, password from APPOS_ADMIN_PASSWORD"
    return "user admin (password already changed; the first one is no longer stored)"


def announce_when_healthy(url: str, *, data: Path, settings: LaunchSettings) -> None:
    """In a detached grandchild (not a child supervisord would have to reap): print the URL and the
    login once /health answers; give up when supervisord ends or after two minutes."""
    supervisord = os.getpid()
    child = os.fork()
    if child != 0:
        os.waitpid(child, 0)
        return
    if os.fork() != 0:
        os._exit(0)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            os.kill(supervisord, 0)
        except ProcessLookupError:
            os._exit(1)
        if health_status(url) == 200:
            print(f"AppOS is running at {url} — {admin_login_line(data, settings)}", flush=True)
            print("Press Ctrl-C to stop.", flush=True)
            os._exit(0)
        time.sleep(0.5)
    print(f"error: AppOS did not become healthy; see the logs in {data / 'log'}", file=sys.stderr, flush=True)
    os._exit(1)


def exec_supervisord(env: dict[str, str], *, url: str, data: Path, settings: LaunchSettings) -> NoReturn:
    """Become supervisord (this pid: Ctrl-C and `docker stop` reach it directly). Its own log goes to
    APPOS_DATA/log/supervisord.log only (--silent), so the terminal shows just our lines."""
    sys.stdout.flush()
    sys.stderr.flush()
    announce_when_healthy(url, data=data, settings=settings)
    env = {**env, "APPOS_SAY_STOPPED": "1"}  # services.supervise prints "Stopped." when it ends
    os.execve(sys.executable, supervise_command("--silent"), env)


def main() -> int:
    os.umask(0o077)
    settings = LaunchSettings()
    data, run_dir = settings.data, settings.sockets
    wanted = [
        (settings.host, settings.port, "APPOS_PORT"),
        (settings.host, settings.grpc_port, "APPOS_GRPC_PORT"),
    ]
    if not os.environ.get("APPOS_CADDY_ADMIN"):  # otherwise Caddy runs elsewhere and holds them
        # Caddy listens on every interface
        wanted.append(("0.0.0.0", settings.proxy_http_port, "APPOS_PROXY_HTTP_PORT"))
        wanted.append(("0.0.0.0", settings.proxy_https_port, "APPOS_PROXY_HTTPS_PORT"))
    for host, port, variable in wanted:
        if port and not port_is_free(host, port):
            print(f"error: {host}:{port} is in use; set {variable} to a free port", file=sys.stderr)
            return 1
    prepare_data_dir(data, run_dir)
    supervisor_pid = run_dir / "supervisord.pid"
    if supervisor_pid.exists():
        try:
            os.kill(int(supervisor_pid.read_text().strip()), 0)
            print(f"error: AppOS already runs on {data} (pid file {supervisor_pid})", file=sys.stderr)
            return 1
        except (ProcessLookupError, ValueError):
            supervisor_pid.unlink()
    extra = {}
    print("Checking the Docker engine…", flush=True)
    if not docker_answers():
        if shutil.which("dockerd") is None:
            print(
                "error: no Docker engine answers and dockerd is not installed (apt-get install docker.io)",
                file=sys.stderr,
            )
            return 1
        extra["APPOS_DOCKERD_AUTOSTART"] = "true"
        print("No Docker engine answers: supervisord starts dockerd; it stops with AppOS.", flush=True)
    env = supervisor_env(data=data, run_dir=run_dir, extra=extra)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = f"http://{host}:{settings.port}"
    print(f"Starting AppOS (data in {data}, logs in {data / 'log'})…", flush=True)
    exec_supervisord(env, url=url, data=data, settings=settings)


if __name__ == "__main__":
    sys.exit(main())
