"""`make run`'s launcher, as a user runs it: prints the URL and password, serves, stops on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.harness import ROOT, free_port, wait_for


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is as good as gone
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def test_launcher_prints_url_and_password_and_ctrl_c_stops_everything(
    tmp_path: Path, docker_engine: None
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPOS_")}
    env.update({"APPOS_DATA": str(tmp_path / "data"), "APPOS_PORT": str(port), "PYTHONUNBUFFERED": "1"})
    env.update({"APPOS_PROXY_HTTP_PORT": str(free_port()), "APPOS_PROXY_HTTPS_PORT": str(free_port())})
    env["APPOS_GRPC_PORT"] = str(free_port())
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.launcher"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"launcher ended early: {lines}"
            lines.append(line)
            if line.startswith("AppOS is running at"):
                break
        match = re.match(r"AppOS is running at (http://\S+) — user admin, password (\S+)", lines[-1])
        assert match, lines
        url, password = match.groups()
        assert url == f"http://127.0.0.1:{port}"
        stored = tmp_path / "data" / "admin-password"
        assert password == stored.read_text().strip()
        assert stored.stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "data" / "secrets" / "jwt.key").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "data" / "appos.db").stat().st_mode & 0o077 == 0

        assert httpx.get(f"{url}/health").status_code == 200
        login = httpx.post(f"{url}/api/v1/auth/login", json={"username": "admin", "password": password})
        assert login.status_code == 200

        supervisord_pid = int((tmp_path / "data" / "run" / "supervisord.pid").read_text())
        children = [
            int(p)
            for p in subprocess.run(
                ["pgrep", "-P", str(supervisord_pid)], capture_output=True, text=True, check=False
            ).stdout.split()
        ]
        # redis, caddy, state, deployer (with the Celery worker in it), proxyctl, terminal, gateway;
        # the launcher became supervisord and the helper that printed the URL is no child of it
        assert len(children) == 7
        assert supervisord_pid == proc.pid

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(60) == 0
        rest = proc.stdout.read()
        assert "Stopped." in rest
        for pid in [supervisord_pid, *children]:
            wait_for(lambda pid=pid: not _alive(pid), timeout=10, what=f"pid {pid} to end")
        with httpx.Client() as c:
            try:
                c.get(f"{url}/health", timeout=2)
                raise AssertionError("the gateway still answers after Ctrl-C")
            except httpx.TransportError:
                pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_launcher_refuses_a_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("APPOS_")}
        env.update({"APPOS_DATA": str(tmp_path / "data"), "APPOS_PORT": str(port)})
        result = subprocess.run(
            [sys.executable, "-m", "services.launcher"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is in use" in result.stderr
