"""Memory of a whole idle AppOS: PSS (from /proc/<pid>/smaps_rollup) of supervisord and every
process it runs, after start and after some traffic. PSS splits shared pages fairly between the
processes that share them, so the sum is what the stack really costs.

The same figure for the stack inside the single image (every process in the container, tini and
the launcher included), run against this machine's engine like install.sh runs it, same traffic.

Target for the finished stack: <= 200 MiB (Portainer ~100 MB; Coolify and Websoft9 ask for 2 GB).
Run: .venv/bin/python bench/footprint.py [--image appos-test/appos:latest]   (make image-local builds it;
     --no-image measures the native stack only)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
from docker.errors import ImageNotFound

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.launcher import health_status  # noqa: E402
from tests.harness import docker_client, free_port, start_stack, wait_for  # noqa: E402

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
    if words and Path(words[0]).name == "tini":  # the image's PID 1
        return "tini"
    if "services.supervise" in words and pid != root_pid:
        # a service forked by services.supervise: its command line is supervisord's, its name is its own
        return Path(f"/proc/{pid}/comm").read_text().strip()
    for i, word in enumerate(words):
        if word == "-m" and i + 1 < len(words):
            return words[i + 1].replace("services.", "").replace(".main", "")
    return Path(words[0]).name if words else str(pid)


def measure(root: int) -> tuple[list[tuple[str, float]], float]:
    pids = [root, *descendants(root)]
    # supervisord: the root natively; in the image the first `services.supervise` under tini and the launcher
    supervisord = next((pid for pid in pids if b"services.supervise" in cmdline(pid)), root)
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


def native() -> tuple[list[tuple[str, float]], float, float]:
    with tempfile.TemporaryDirectory(prefix="appos-bench-") as tmp:
        stack = start_stack(Path(tmp))
        try:
            time.sleep(5)
            idle_rows, idle = measure(stack.proc.pid)
            traffic(stack.url, stack.login())
            time.sleep(2)
            _, warm = measure(stack.proc.pid)
        finally:
            stack.stop()
    return idle_rows, idle, warm


def in_image(image: str) -> tuple[list[tuple[str, float]], float, float]:
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
            time.sleep(5)
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
        "--guard", action="store_true", help=f"exit 1 above {TARGET_MIB:.0f} MiB (native, idle)"
    )
    args = parser.parse_args()

    idle_rows, idle, warm = native()
    image_result = None
    if not args.no_image:
        if image_exists(args.image):
            image_result = in_image(args.image)
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
        if name not in shown:  # tini and the launcher: only the image runs them under its root
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
