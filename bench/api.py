"""Latency of authenticated reads against bare FastAPI routes reading the same SQLite rows directly
(bench/baseline_app.py), in the same run. Prints p50/p99 of each and their ratio. Target: <= 1.5x.

- `GET /api/v1/users` (gateway -> gRPC -> state) at 10 and 1,000 rows;
- `GET /api/v1/apps` with 1,000 apps (gateway -> deployer -> state), each app with a deployment
  and a running container in its recorded status. The apps are written through state's own calls
  (CreateApp, TransitionDeployment, UpdateAppRuntime) and never deployed: no container is started.

The machine's other work moves both sides of a ratio alike; repeat a run and take the median.

Run: .venv/bin/python bench/api.py [requests per case, default 400] (--help: this text)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appos.v1 import apps_pb2, state_pb2, state_pb2_grpc  # noqa: E402
from services.common.clients import sync_channel  # noqa: E402
from services.common.passwords import hash_password  # noqa: E402
from tests.harness import docker_engine, free_port, start_stack, wait_for  # noqa: E402


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


def timed(client: httpx.Client, url: str, params: dict[str, int], n: int) -> list[float]:
    for _ in range(20):  # warm up
        client.get(url, params=params).raise_for_status()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(url, params=params)
        samples.append(time.perf_counter() - start)
        response.raise_for_status()
    return samples


def add_users(socket: Path, count: int) -> None:
    channel = sync_channel(socket)
    stub = state_pb2_grpc.StateStub(channel)
    password_hash = hash_password("bench-password")
    for i in range(count):
        stub.CreateUser(
            state_pb2.StateCreateUserRequest(
                username=f"bench{i:05d}", password_hash=password_hash, role="viewer", actor="bench"
            ),
            timeout=10,
        )
    channel.close()


def add_apps(socket: Path, count: int) -> None:
    """`count` apps as state records a deployed one: its first deployment succeeded, and the
    deployer's last look at its containers found one running."""
    channel = sync_channel(socket)
    stub = state_pb2_grpc.StateStub(channel)
    for i in range(count):
        name = f"app{i:04d}"
        created = stub.CreateApp(
            state_pb2.StateCreateAppRequest(
                name=name,
                compose="services:\n  web:\n    image: busybox\n",
                actor="bench",
                auto_rollback=True,
            ),
            timeout=10,
        )
        for before, after in (("pending", "running"), ("running", "succeeded")):
            stub.TransitionDeployment(
                state_pb2.StateTransitionDeploymentRequest(
                    id=created.deployment.id, from_statuses=[before], to_status=after
                ),
                timeout=10,
            )
        service = apps_pb2.AppService(
            service="web", container=f"appos-{name}-web-1", state="running", ports=["0.0.0.0:8080->80/tcp"]
        )
        stub.UpdateAppRuntime(
            state_pb2.StateUpdateAppRuntimeRequest(name=name, status="running", services=[service]),
            timeout=10,
        )
    channel.close()


def report(label: str, appos: list[float], bare: list[float]) -> None:
    a50, a99 = percentiles(appos)
    b50, b99 = percentiles(bare)
    print(
        f"{label:>10} {a50 * 1e3:>10.2f} {a99 * 1e3:>10.2f} {b50 * 1e3:>9.2f} {b99 * 1e3:>9.2f}"
        f" {a50 / b50:>6.2f} {a99 / b99:>6.2f}"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    with tempfile.TemporaryDirectory(prefix="appos-bench-") as tmp:
        stack = start_stack(Path(tmp))
        try:
            port = free_port()
            baseline = subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "bench" / "baseline_app.py"),
                    str(stack.data / "appos.db"),
                    str(port),
                ]
            )
        except BaseException:  # the stack must not outlive a failed start of the baseline
            stack.stop()
            raise
        try:
            add_users(stack.run_dir / "state.sock", 1000)
            add_apps(stack.run_dir / "state.sock", 1000)
            token = stack.login()
            base_url = f"http://127.0.0.1:{port}"
            wait_for(lambda: httpx.get(f"{base_url}/users").status_code == 200, timeout=30, what="baseline")
            print(f"Authenticated reads, {n} sequential requests per case (seconds -> ms)")
            print(
                f"{'case':>10} {'appos p50':>10} {'appos p99':>10} {'bare p50':>9} {'bare p99':>9}"
                f" {'x p50':>6} {'x p99':>6}"
            )
            with stack.client(token) as appos, httpx.Client() as bare:
                for rows in (10, 1000):
                    params = {"page_size": rows}
                    report(
                        f"users {rows}",
                        timed(appos, "/api/v1/users", params, n),
                        timed(bare, f"{base_url}/users", params, n),
                    )
                listed = appos.get("/api/v1/apps").json()["apps"]
                assert len(listed) == 1000 and listed[0]["status"] == "running", listed[0]
                report(
                    "apps 1000", timed(appos, "/api/v1/apps", {}, n), timed(bare, f"{base_url}/apps", {}, n)
                )
        finally:
            baseline.terminate()
            baseline.wait()
            stack.stop()


if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        sys.exit(0)
    with docker_engine():  # started here when none answers, and stopped after
        main()
