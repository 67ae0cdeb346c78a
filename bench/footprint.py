"""Memory of a whole idle AppOS as a user pays for it: PSS (from /proc/<pid>/smaps_rollup) of every
process in the tree of `make run` (make, the launcher if it still waits, supervisord and every
program), 25 s after the URL line, then after some traffic. PSS splits shared pages fairly between
the processes that share them, so the sum is what the stack really costs. The Docker engine
(dockerd, containerd and the apps' containers) is left out, even when `make run` started it.

The same figure for the stack inside the single image (every process in the container, tini and
the launcher included), run against this machine's engine like install.sh runs it, same traffic.

Target: <= 200 MiB (Dockge, measured on this machine: 164 MiB; Dokploy 464; Coolify asks 2 GB).
Run: .venv/bin/python bench/footprint.py [--image appos-test/appos:latest]   (make image-local builds it;
     --no-image measures the native stack only; --guard exits 1 above the target)
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from docker.errors import ImageNotFound

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.launcher import health_status  # noqa: E402
from tests.harness import docker_client, free_port, wait_for  # noqa: E402

TARGET_MIB = 200.0


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


# The Docker engine and what it runs are not AppOS's, even when `make run` started the engine.
ENGINE = {"dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "docker-proxy"}


def descendants(pid: int) -> list[int]:
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        if Path(f"/proc/{child}/comm").read_text().strip() in ENGINE:
            continue
        found.append(int(child))
        found.extend(descendants(int(child)))
    return found


def label(pid: int, supervisord: int) -> str:
    words = [a.decode(errors="replace") for a in cmdline(pid).split(b"\0") if a]
    if pid == supervisord:
        return "supervisord"
    if words and Path(words[0]).name == "tini":  # the image's PID 1
        return "tini"
    if "services.supervise" in words:
        # a service forked by services.supervise: its command line is supervisord's, its name is its own
        return Path(f"/proc/{pid}/comm").read_text().strip()
    for i, word in enumerate(words):
        if word == "-m" and i + 1 < len(words):
            return words[i + 1].replace("services.", "").replace(".main", "")
    # redis-server rewrites its command line into one word ("/usr/bin/redis-server unixsocket:…")
    name = Path(words[0].split()[0]).name if words else str(pid)
    return "redis" if name == "redis-server" else name


def measure(root: int) -> tuple[list[tuple[str, float]], float]:
    pids = [root, *descendants(root)]
    # supervisord: the first `services.supervise` in the tree (its programs are forks of it)
    supervisord = next((pid for pid in pids if b"services.supervise" in cmdline(pid)), 0)
    rows = [(label(pid, supervisord), pss_kib(pid) / 1024) for pid in pids]
    return rows, sum(mib for _, mib in rows)


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def traffic(url: str, token: str) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        for _ in range(200):
            c.get("/api/v1/users")
            c.get("/health")


def native(command: list[str], idle_seconds: float) -> tuple[list[tuple[str, float]], float, float]:
    """`command` (`make run`) as a user runs it in a terminal, in a fresh data folder and free ports;
    measured `idle_seconds` after it prints the URL, then after traffic; stopped as Ctrl-C stops it."""
    with tempfile.TemporaryDirectory(prefix="appos-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("APPOS_", "MAKE"))}
        env.update(
            {
                "APPOS_DATA": str(Path(tmp) / "data"),
                "APPOS_PORT": str(free_port()),
                "APPOS_GRPC_PORT": str(free_port()),
                "APPOS_PROXY_HTTP_PORT": str(free_port()),
                "APPOS_PROXY_HTTPS_PORT": str(free_port()),
                "PYTHONUNBUFFERED": "1",
            }
        )
        # its own session and process group, as a terminal's foreground job: Ctrl-C is SIGINT to the group
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert proc.stdout is not None
        try:
            seen: list[str] = []
            while not seen or not seen[-1].startswith("AppOS is running at"):
                line = proc.stdout.readline()
                if not line:
                    raise SystemExit(f"{' '.join(command)} ended early:\n{''.join(seen)}")
                seen.append(line)
            match = re.match(r"AppOS is running at (http://\S+) — user admin, password (\S+)", seen[-1])
            assert match, seen[-1]
            url, password = match.groups()
            time.sleep(idle_seconds)
            idle_rows, idle = measure(proc.pid)
            login = httpx.post(
                f"{url}/api/v1/auth/login", json={"username": "admin", "password": password}, timeout=60
            )
            traffic(url, login.json()["access_token"])
            time.sleep(2)
            _, warm = measure(proc.pid)
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            proc.stdout.close()
    return idle_rows, idle, warm


def in_image(image: str, idle_seconds: float) -> tuple[list[tuple[str, float]], float, float]:
    """The image as install.sh runs it (host network, the engine's socket, data at the same path);
    PSS of every process in the container, read from this machine's /proc."""
    client = docker_client()
    with tempfile.TemporaryDirectory(prefix="appos-bench-img-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        port = free_port()
        container = client.containers.run(
            image,
            detach=True,
            network_mode="host",
            volumes={
                "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
                str(data): {"bind": str(data), "mode": "rw"},
            },
            environment={
                "APPOS_DATA": str(data),
                "APPOS_PORT": str(port),
                "APPOS_GRPC_PORT": str(free_port()),
                "APPOS_PROXY_HTTP_PORT": str(free_port()),
                "APPOS_PROXY_HTTPS_PORT": str(free_port()),
            },
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: health_status(url) == 200, timeout=240, interval=1, what="the image's /health")
            container.reload()
            init_pid = int(container.attrs["State"]["Pid"])
            time.sleep(idle_seconds)
            idle_rows, idle = measure(init_pid)
            password = (data / "admin-password").read_text().strip()
            login = httpx.post(
                f"{url}/api/v1/auth/login", json={"username": "admin", "password": password}, timeout=60
            )
            traffic(url, login.json()["access_token"])
            time.sleep(2)
            _, warm = measure(init_pid)
        finally:
            container.remove(force=True)
            client.close()
    return idle_rows, idle, warm


def image_exists(image: str) -> bool:
    client = docker_client()
    try:
        client.images.get(image)
        return True
    except ImageNotFound:
        return False
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--image", default="appos-test/appos:latest", help="the AppOS image to measure")
    parser.add_argument("--no-image", action="store_true", help="measure the native stack only")
    parser.add_argument(
        "--command", default="make -s run", help="what a user runs (default: make -s run, from the checkout)"
    )
    parser.add_argument("--idle", type=float, default=25.0, help="seconds to wait after the URL line")
    parser.add_argument(
        "--guard", action="store_true", help=f"exit 1 above {TARGET_MIB:.0f} MiB (native, idle)"
    )
    args = parser.parse_args()

    idle_rows, idle, warm = native(args.command.split(), args.idle)
    image_result = None
    if not args.no_image:
        if image_exists(args.image):
            image_result = in_image(args.image, args.idle)
        else:
            print(f"(image {args.image} not found: `make image-local IMAGE={args.image}` builds it)")

    print("AppOS footprint (PSS, MiB)")
    image_rows: dict[str, float] = {}
    if image_result is not None:
        for name, mib in image_result[0]:
            image_rows[name] = image_rows.get(name, 0.0) + mib
    print(f"  {'process':<22} {'native':>7}  {'image' if image_result else '':>7}")
    shown = set()
    for name, mib in idle_rows:
        shown.add(name)
        extra = f"{image_rows[name]:7.1f}" if name in image_rows else ""
        print(f"  {name:<22} {mib:7.1f}  {extra:>7}")
    for name, mib in image_rows.items():
        if name not in shown:  # tini: only the image runs it
            print(f"  {name:<22} {'':>7}  {mib:7.1f}")
    line = f"  {'total idle':<22} {idle:7.1f}"
    if image_result is not None:
        line += f"  {image_result[1]:7.1f}"
    print(f"{line}   (target {TARGET_MIB:.0f}: native {idle / TARGET_MIB:.2f} of it)")
    line = f"  {'total after 400 req':<22} {warm:7.1f}"
    if image_result is not None:
        line += f"  {image_result[2]:7.1f}"
    print(line)
    if args.guard and idle > TARGET_MIB:
        print(f"GUARD: the native idle footprint {idle:.1f} MiB is above the {TARGET_MIB:.0f} MiB target")
        sys.exit(1)


if __name__ == "__main__":
    main()
