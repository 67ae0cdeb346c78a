"""Finding a Docker engine, and starting `dockerd` when none answers (Debian's docker.io)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException

DEFAULT_SOCKET = "unix:///var/run/docker.sock"


class _Versions:
    """The API version each engine (by address) answered a new client with, kept for a few seconds:
    asking it again costs every new client ~9 ms (a deployment makes several in a row, the watcher
    one per container event). An engine replaced by an older one is asked again at the latest
    after `seconds`."""

    def __init__(self, seconds: float = 10.0) -> None:
        self.seconds = seconds
        self._found: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, base_url: str) -> str:
        with self._lock:
            version, at = self._found.get(base_url, ("", 0.0))
        return version if version and time.monotonic() - at < self.seconds else ""

    def put(self, base_url: str, version: str) -> None:
        with self._lock:
            self._found[base_url] = (version, time.monotonic())


_versions = _Versions()


def docker_client(base_url: str = DEFAULT_SOCKET, timeout: int = 30) -> Any:
    """A client that speaks whatever API version the engine has (20.10 up to 29): the one it
    answered a client made in the last few seconds with, or else asked now."""
    known = _versions.get(base_url)
    if known:
        return docker.DockerClient(base_url=base_url, version=known, timeout=timeout)
    client = docker.DockerClient(base_url=base_url, version="auto", timeout=timeout)
    _versions.put(base_url, str(client.api.api_version))
    return client


def docker_answers(base_url: str = DEFAULT_SOCKET, timeout: int = 3) -> bool:
    try:
        client = docker_client(base_url, timeout)
    except DockerException:
        return False
    try:
        return bool(client.ping())
    except DockerException:
        return False
    finally:
        client.close()


def start_dockerd(
    log_path: Path, *, wait_seconds: float = 60.0, args: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """Start dockerd (with `args`) in its own session, logging to `log_path`; return once it answers."""
    binary = shutil.which("dockerd")
    if binary is None:
        raise RuntimeError(
            "no Docker engine answers and dockerd is not installed (apt-get install docker.io)"
        )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([binary, *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dockerd exited with {proc.returncode}; see {log_path}")
        if docker_answers():
            return proc
        time.sleep(0.25)
    proc.terminate()
    raise RuntimeError(f"dockerd did not answer within {wait_seconds:.0f}s; see {log_path}")


def ensure_docker(log_path: Path, *, args: tuple[str, ...] = ()) -> subprocess.Popen[bytes] | None:
    """None when an engine already answers; otherwise the dockerd this call started (with `args`)."""
    if docker_answers():
        return None
    return start_dockerd(log_path, args=args)
