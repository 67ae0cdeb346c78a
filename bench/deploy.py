"""Deploy speed: time from `POST /api/v1/apps` to `succeeded` for a one-service busybox template,
against raw `docker compose up -d --wait` of the same files, same run, several rounds; then 10
concurrent deploys (all must succeed) against the ideal (one deploy's time × 10 / 3 workers).

Target (issue 18): <= 1.05x of raw Compose.
Run: .venv/bin/python bench/deploy.py [rounds, default 5]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.deployer.catalog import load_template  # noqa: E402
from services.deployer.compose import Project, write_files  # noqa: E402
from tests.harness import (  # noqa: E402
    TEST_TEMPLATES,
    build_busybox_image,
    docker_client,
    docker_engine,
    free_port,
    running_stack,
)


def raw_compose(tmp: Path, name: str) -> float:
    template = load_template(TEST_TEMPLATES / "busybox-httpd")
    env, _ = template.render_env({"HTTP_PORT": str(free_port())})
    directory = tmp / name
    write_files(directory, template.compose, env)
    project = Project(name=f"bench-{name}", directory=directory, docker_host="unix:///var/run/docker.sock")
    try:
        start = time.perf_counter()
        subprocess.run(
            project.command("up", "--detach", "--wait"), env=project.env(), check=True, capture_output=True
        )
        return time.perf_counter() - start
    finally:  # also after a failure or Ctrl-C: the project's containers, network and volume go
        down = project.command("down", "--volumes")
        subprocess.run(down, env=project.env(), check=True, capture_output=True)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    client = docker_client()
    build_busybox_image(client)
    client.close()
    with tempfile.TemporaryDirectory(prefix="appos-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with running_stack(tmp / "stack") as stack:
            token = stack.login()
            appos, raw = [], []
            with stack.client(token) as c:  # made before the clock starts: not part of a deploy
                for i in range(rounds):
                    raw.append(raw_compose(tmp, f"raw{i}"))
                    body = {
                        "name": f"b{i}",
                        "template": "busybox-httpd",
                        "settings": {"HTTP_PORT": str(free_port())},
                    }
                    posted = datetime.now(UTC)
                    reply = c.post("/api/v1/apps", json=body)
                    assert reply.status_code == 202, reply.text
                    deployment = stack.wait_deployment(token, reply.json()["deployment"]["id"])
                    # the server's own finish time: no polling delay in the figure
                    finished = datetime.fromisoformat(deployment["finished_at"].replace("Z", "+00:00"))
                    appos.append((finished - posted).total_seconds())
                    assert deployment["status"] == "succeeded", deployment
                    stack.act(token, f"b{i}", "remove", remove_volumes="true")
            a, r = statistics.median(appos), statistics.median(raw)
            print(f"one-service deploy, {rounds} rounds (median seconds)")
            print(f"  AppOS POST→succeeded {a:.3f}   raw compose up --wait {r:.3f}   ratio {a / r:.2f}")
            print("  rounds: AppOS " + " ".join(f"{x:.3f}" for x in appos))
            print("  rounds: raw   " + " ".join(f"{x:.3f}" for x in raw))

            start = time.perf_counter()
            ids = []
            with stack.client(token) as c:
                for i in range(10):
                    body = {
                        "name": f"c{i}",
                        "template": "busybox-httpd",
                        "settings": {"HTTP_PORT": str(free_port())},
                    }
                    reply = c.post("/api/v1/apps", json=body)
                    assert reply.status_code == 202, reply.text
                    ids.append(reply.json()["deployment"]["id"])
            results = [stack.wait_deployment(token, i, timeout=300) for i in ids]
            total = time.perf_counter() - start
            ok = sum(1 for d in results if d["status"] == "succeeded")
            ideal = a * 10 / 3
            print(
                f"10 concurrent deploys: {ok}/10 succeeded in {total:.2f} s"
                f" (ideal with 3 workers {ideal:.2f} s, ratio {total / ideal:.2f})"
            )
            for i in range(10):
                stack.act(token, f"c{i}", "remove", remove_volumes="true")


if __name__ == "__main__":
    with docker_engine():  # started here when none answers, and stopped after
        main()
