"""supervisord with the services' common modules loaded once, shared by every Python program it runs.

Each AppOS service is its own process under supervisord (restarted alone, killed alone, its own pid).
Started the usual way — fork, then exec a fresh interpreter — every one of them would import gRPC,
protobuf, pydantic, the Docker SDK and the generated stubs again: about 25 MiB of private memory each.
Here supervisord imports those modules first and freezes them out of the garbage collector; when it
forks a program whose command is `<APPOS_PYTHON> -m services.<name>`, the child does not exec but runs
that module in the forked interpreter, so the preloaded modules stay in pages shared copy-on-write
with supervisord and its other children. Everything else (redis, caddy, any other command) is exec'd
as before. supervisord still owns every child: start, stop, restart, kill -9 and logs are unchanged.

Run: python -m services.supervise -c supervisord.conf   (the launcher execs it; the test harness runs it)
"""

from __future__ import annotations

import atexit
import ctypes
import gc
import importlib
import io
import os
import runpy
import signal
import sys
import threading
from typing import Any

# Modules that two or more services import (measured with `python -X importtime`, see
# docs/architecture.md#memory). A module that only one service uses gains nothing from preloading.
PRELOAD = (
    "grpc",
    "grpc.aio",
    "grpc_health.v1.health",
    "grpc_reflection.v1alpha.reflection",
    "google.protobuf.json_format",
    "pydantic",
    "pydantic_settings",
    "docker",
    "redis",
    "cryptography.x509",
    "argon2",
    "services.common.clients",
    "services.common.passwords",
    "services.common.roles",
    "services.common.secretfiles",
    "services.common.dockerd",
    "services.common.errors",
    "services.common.grpc_server",
    "services.common.logs",
    "services.common.names",
    "services.common.periodic",
    "services.common.settings",
    "services.common.state_client",
    "services.common.timestamps",
    # the deployer, the terminal and the gateway (Celery and the executor: the deployer's alone, since
    # the worker runs inside it)
    "services.deployer.compose",
    "services.deployer.runtime",
    # the terminal and the gateway
    "services.terminal.targets",
)
STUBS = ("appos.v1",)
SERVICE_PREFIX = "services."
# glibc's mallopt(M_ARENA_MAX, 2): fewer per-thread malloc arenas; the forked children inherit it.
M_ARENA_MAX = -8
PR_SET_NAME = 15


def name_process(name: str) -> None:
    """Show the program's name (not supervisord's command line) in ps, top and /proc/<pid>/comm."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):
        pass


def preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    for package in STUBS:
        folder = importlib.import_module(package).__path__[0]
        for file in sorted(os.listdir(folder)):
            if file.endswith(("_pb2.py", "_pb2_grpc.py")):
                importlib.import_module(f"{package}.{file[:-3]}")
    gc.collect()
    gc.freeze()


def service_module(filename: str, argv: list[str]) -> str | None:
    """`services.x.y` when the command is this interpreter running a service module, else None."""
    if len(argv) >= 3 and argv[1] == "-m" and argv[2].startswith(SERVICE_PREFIX):
        if os.path.realpath(filename) == os.path.realpath(sys.executable):
            return argv[2]
    return None


def run_in_child(module: str, argv: list[str], env: dict[str, str]) -> None:
    """Become the service, as a fresh `python -m module` would be, and exit with its status."""
    os.environ.clear()
    os.environ.update(env)
    name_process(env.get("SUPERVISOR_PROCESS_NAME", module))
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=False)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
    sys.argv = ["-m", *argv[3:]]
    sys.path[0] = os.getcwd()
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            sys.stderr.write(f"{exc.code}\n")
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    finally:
        threading._shutdown()  # type: ignore[attr-defined]  # as the interpreter does at exit
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def execve(self: Any, filename: str, argv: list[str], env: dict[str, str]) -> None:
    module = service_module(filename, argv)
    if module is None:
        os.execve(filename, argv, env)
    else:
        run_in_child(module, argv, env)


def main() -> None:
    from supervisor import options, supervisord

    try:
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 2)
    except (OSError, AttributeError):
        pass
    # gRPC reads this once, when it is first imported, which is now (in supervisord) for every child.
    # The services' own forks (PTYs, compose) exec at once, so gRPC's fork handlers must stay off:
    # with them on, a fork while gRPC threads are busy can crash the child before it execs.
    os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "false"
    # set by the launcher (`make run`, the image): say so on the terminal once every program has stopped
    say_stopped = os.environ.pop("APPOS_SAY_STOPPED", "") == "1"
    preload()
    options.ServerOptions.execve = execve
    supervisord.main()
    if say_stopped:
        print("Stopped.", flush=True)  # noqa: T201


if __name__ == "__main__":
    main()
