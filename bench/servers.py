"""More servers (issue 21): deploying to a remote server through AppOS against `docker compose up -d
--wait` run directly against the same forwarded socket, same run, several rounds (target ≤ 1.1×);
then 20 deploys at once spread over `local` and two remote servers, against the ideal (each engine's
share of one-at-a-time deploys divided by the deployment threads that serve it).

The remote servers are network namespaces with their own dockerd and sshd (tests/remote.py): their
engines share this machine's two cores, so "remote" here measures AppOS's path (SSH forward, the
folder copy, Compose through the socket), not a network. Nothing leaves the machine; everything it
makes is removed on the way out.
Run: .venv/bin/python bench/servers.py [rounds, default 5]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.common.engines import forwarded_socket  # noqa: E402
from services.deployer.compose import compose_binary  # noqa: E402
from tests.harness import Stack, docker_engine, running_stack  # noqa: E402
from tests.remote import remote_server  # noqa: E402

COMPOSE = """services:
  web:
    image: appos-test/busybox:latest
    pull_policy: never
    init: true
    command: ["httpd", "-f", "-p", "8080", "-h", "/"]
    ports:
      - "${PORT}:8080"
"""


def deploy_through_appos(stack: Stack, token: str, server: str, port: int) -> float:
    name = f"b{uuid.uuid4().hex[:8]}"
    body = {"name": name, "server": server, "compose": COMPOSE, "env": f"PORT={port}\n"}
    with stack.client(token) as c:  # made before the clock starts: not part of a deploy
        posted = datetime.now(UTC)
        reply = c.post("/api/v1/apps", json=body)
    assert reply.status_code == 202, reply.text
    deployment = stack.wait_deployment(token, reply.json()["deployment"]["id"])
    assert deployment["status"] == "succeeded", deployment
    # the server's own finish time: no polling delay in the figure
    seconds = (
        datetime.fromisoformat(deployment["finished_at"].replace("Z", "+00:00")) - posted
    ).total_seconds()
    remove(stack, token, name)
    return seconds


def remove(stack: Stack, token: str, name: str) -> None:
    with stack.client(token) as c:
        r = c.delete(f"/api/v1/apps/{name}", params={"remove_volumes": "true"})
    if r.status_code == 202:
        stack.wait_deployment(token, r.json()["deployment"]["id"])


def deploy_directly(socket: Path, work: Path, port: int) -> float:
    folder = work / f"raw{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    (folder / "compose.yaml").write_text(COMPOSE)
    (folder / ".env").write_text(f"PORT={port}\n")
    env = {**os.environ, "DOCKER_HOST": f"unix://{socket}"}
    command = [compose_binary(), "-p", folder.name, "--project-directory", str(folder)]
    start = time.perf_counter()
    subprocess.run([*command, "up", "-d", "--wait"], env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    subprocess.run([*command, "down", "--remove-orphans"], env=env, check=True, capture_output=True)
    return seconds


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory(prefix="appos-bench-servers-") as tmp:
        work = Path(tmp)
        with (
            docker_engine(),
            running_stack(work / "stack") as stack,
            remote_server(work / "r", name="far") as far,
            remote_server(work / "r", name="farther") as farther,
        ):
            token = stack.login()
            far.add_to(stack, token)
            farther.add_to(stack, token)
            socket = forwarded_socket(stack.run_dir, "far")
            deploy_through_appos(stack, token, "far", 18100)  # warm: first Compose run, first copy
            deploy_directly(socket, work, 18101)
            appos, direct = [], []
            for n in range(rounds):
                appos.append(deploy_through_appos(stack, token, "far", 18102 + n))
                direct.append(deploy_directly(socket, work, 18102 + n))
            a, d = statistics.median(appos), statistics.median(direct)
            print(f"one deploy to a remote server, median of {rounds} (same run):")
            print(f"  docker compose up -d --wait through the forwarded socket  {d:6.2f} s")
            print(f"  AppOS (POST /api/v1/apps → succeeded)                     {a:6.2f} s   {a / d:.2f}×")

            servers = ["local", "far", "farther"]
            single = {s: deploy_through_appos(stack, token, s, 18200 + i) for i, s in enumerate(servers)}
            jobs = [(servers[i % 3], 18300 + i) for i in range(20)]
            names: list[str] = []

            def one(job: tuple[str, int]) -> str:
                server, port = job
                name = f"c{uuid.uuid4().hex[:8]}"
                body = {"name": name, "server": server, "compose": COMPOSE, "env": f"PORT={port}\n"}
                _, deployment = stack.deploy(token, body, timeout=600)
                assert deployment["status"] == "succeeded", deployment
                return name

            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=20) as pool:
                names = list(pool.map(one, jobs))
            wall = time.perf_counter() - start
            threads = 2  # APPOS_WORKER_CONCURRENCY_DEPLOYMENTS (local) and _PER_SERVER (each remote), both 2
            ideal = max(single[s] * -(-sum(1 for j in jobs if j[0] == s) // threads) for s in servers)
            print("20 deploys at once over local + 2 remote servers (7/7/6):")
            print(
                f"  all succeeded in {wall:6.2f} s; ideal {ideal:6.2f} s "
                f"({threads} threads per engine)  {wall / ideal:.2f}×"
            )
            for name in names:
                remove(stack, token, name)


if __name__ == "__main__":
    main()
