"""Memory of a whole idle AppOS: PSS (from /proc/<pid>/smaps_rollup) of supervisord and every
process it runs, after start and after some traffic. PSS splits shared pages fairly between the
processes that share them, so the sum is what the stack really costs.

Target for the finished stack: <= 200 MiB (Portainer ~100 MB; Coolify and Websoft9 ask for 2 GB).
Run: .venv/bin/python bench/footprint.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness import start_stack  # noqa: E402

TARGET_MIB = 200.0


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def descendants(pid: int) -> list[int]:
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found.append(int(child))
        found.extend(descendants(int(child)))
    return found


def label(pid: int, root_pid: int = 0) -> str:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    words = [a.decode(errors="replace") for a in args if a]
    if "services.supervise" in words and pid != root_pid:
        # a service forked by services.supervise: its command line is supervisord's, its name is its own
        return Path(f"/proc/{pid}/comm").read_text().strip()
    for i, word in enumerate(words):
        if word == "-m" and i + 1 < len(words):
            return words[i + 1].replace("services.", "").replace(".main", "")
    return Path(words[0]).name if words else str(pid)


def measure(root: int) -> tuple[list[tuple[str, float]], float]:
    rows = [(label(pid, root), pss_kib(pid) / 1024) for pid in [root, *descendants(root)]]
    return rows, sum(mib for _, mib in rows)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="appos-bench-") as tmp:
        stack = start_stack(Path(tmp))
        try:
            time.sleep(5)
            idle_rows, idle = measure(stack.proc.pid)
            token = stack.login()
            with stack.client(token) as c:
                for _ in range(200):
                    c.get("/api/v1/users")
                    c.get("/health")
            time.sleep(2)
            _, warm = measure(stack.proc.pid)
        finally:
            stack.stop()
    print("AppOS footprint (PSS, MiB)")
    for name, mib in idle_rows:
        print(f"  {name:<22} {mib:7.1f}")
    print(f"  {'total idle':<22} {idle:7.1f}   (target {TARGET_MIB:.0f}: {idle / TARGET_MIB:.2f} of it)")
    print(f"  {'total after 400 req':<22} {warm:7.1f}")


if __name__ == "__main__":
    main()
