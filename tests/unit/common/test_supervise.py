"""services.supervise: which commands run in the forked child, and that such a child behaves like
a fresh `python -m module` (argv, environment, exit status, output)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from services import supervise


def test_service_modules_run_in_the_child() -> None:
    assert supervise.service_module(sys.executable, [sys.executable, "-m", "services.state.main"]) == (
        "services.state.main"
    )


@pytest.mark.parametrize(
    "filename,argv",
    [
        ("/usr/bin/redis-server", ["redis-server", "--port", "0"]),
        (sys.executable, [sys.executable, "-m", "http.server"]),  # not one of ours: exec'd
        (sys.executable, [sys.executable, "script.py"]),
        ("/usr/bin/python3.9", ["/usr/bin/python3.9", "-m", "services.state.main"]),  # another interpreter
    ],
)
def test_everything_else_is_execd(filename: str, argv: list[str]) -> None:
    if filename == "/usr/bin/python3.9" and os.path.realpath(filename) == os.path.realpath(sys.executable):
        pytest.fail("the test needs an interpreter path that is not this one")
    assert supervise.service_module(filename, argv) is None


def _run_forked(module: str, argv: list[str], env: dict[str, str], out: Path) -> int:
    pid = os.fork()
    if pid == 0:  # the child: stdout/stderr to a file, as supervisord's pipes would be
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        supervise.run_in_child(module, argv, env)  # never returns
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_child_gets_argv_env_and_its_exit_status(tmp_path: Path) -> None:
    package = tmp_path / "services"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "probe_main.py").write_text(
        "import os, sys\n"
        "print('argv', sys.argv[1:], 'env', os.environ.get('PROBE'), 'name', __name__)\n"
        "sys.exit(int(os.environ['PROBE_EXIT']))\n"
    )
    out = tmp_path / "out.log"
    here = os.getcwd()
    os.chdir(tmp_path)  # supervisord changes to the program's directory before exec
    saved = sys.modules.pop("services"), list(sys.path)
    try:
        argv = [sys.executable, "-m", "services.probe_main", "--flag"]
        code = _run_forked("services.probe_main", argv, {"PROBE": "yes", "PROBE_EXIT": "3"}, out)
    finally:
        os.chdir(here)
        sys.modules["services"], sys.path[:] = saved
    assert code == 3
    assert out.read_text().strip() == "argv ['--flag'] env yes name __main__"
