"""Finding and ending every process of a terminal session.

A PTY's first process is a session leader (setsid), and everything started from that shell stays
in its session, whatever process group job control puts it in (`sleep 1 &` gets its own group, so
killing the leader's group alone would leave it running). So a session ends by signalling every
live process whose session id is one of the session's leaders: the shell (or the local `docker
exec` client) and, for container shells, the exec'd process inside the container, whose host pid
Docker reports. A process that calls setsid() itself has left on purpose and is not followed.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

PROC = Path("/proc")


def _stat(pid_dir: Path) -> tuple[str, int] | None:
    """(state, session id) of one /proc entry; None when it is gone."""
    try:
        text = (pid_dir / "stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses: the fields that follow start after the last ')'
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[3])


def session_members(leaders: Iterable[int]) -> list[int]:
    """Live (not zombie) processes in the sessions led by `leaders`, leaders included."""
    wanted = {pid for pid in leaders if pid > 0}
    if not wanted:
        return []
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(entry)
        if stat is None or stat[0] in ("Z", "X"):
            continue
        if stat[1] in wanted or int(entry.name) in wanted:
            found.append(int(entry.name))
    return found


def child_exited(pid: int) -> bool:
    """True when our child `pid` has ended, without reaping it (its pid stays ours until then)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _signal(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
            if sig != signal.SIGKILL:
                os.kill(pid, signal.SIGCONT)  # a stopped job must run to act on the signal
        except (ProcessLookupError, PermissionError):
            pass


def end_sessions(
    leaders: Callable[[], Iterable[int]], *, grace: float = 1.0, poll: float = 0.05
) -> list[int]:
    """SIGHUP (a terminal hang-up), then SIGTERM, then SIGKILL, each step only for what is still
    running after `grace` seconds. `leaders` is asked again at each step (a container shell's pid
    may only become known meanwhile). Returns what was still running after SIGKILL (normally
    nothing)."""
    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGKILL):
        members = session_members(leaders())
        if not members:
            return []
        _signal(members, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not session_members(leaders()):
                return []
            time.sleep(poll)
    return session_members(leaders())
