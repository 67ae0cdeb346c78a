"""Image updates (issue 19): the downtime of an update of a healthchecked one-service app — the
longest gap a client polling it every 50 ms sees — through `POST /api/v1/apps/{app}/update`,
against plain `docker compose pull && docker compose up -d` of the same change (1.0.0 → 1.1.0 of a
busybox httpd image in a loopback registry), same run, several rounds; then the time to check 100
apps against that registry (`POST /api/v1/updates/check` → its `updates_checked` event).

Everything it starts (the stack, the registry, the raw Compose projects, the images it pushed) is
removed on the way out, also after a failure or Ctrl-C.
Run: .venv/bin/python bench/update.py [rounds, default 3]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appos.v1 import apps_pb2, state_pb2  # noqa: E402
from services.common.state_client import StateClient  # noqa: E402
from services.deployer.compose import Project  # noqa: E402
from tests.harness import Stack, docker_client, docker_engine, free_port, running_stack  # noqa: E402
from tests.registry import WEB_COMPOSE, LocalRegistry, push_image, remove_images, running_registry  # noqa: E402

REPOSITORY = "appos-bench/web"
VERSIONS = ("1.0.0", "1.0.1", "1.1.0", "2.0.0")
POLL = 0.05


class Poller:
    """GET http://127.0.0.1:port/version every 50 ms; the longest time without an answer."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/version"
        self.answers: list[tuple[float, str | None]] = []  # (time, body or None when it failed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=1.0) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    r = client.get(self.url)
                    body: str | None = r.text if r.status_code == 200 else None
                except httpx.HTTPError:
                    body = None
                self.answers.append((time.perf_counter(), body))
                self._stop.wait(max(0.0, POLL - (time.perf_counter() - started)))

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def wait_for(self, body: str, timeout: float = 120) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.answers and self.answers[-1][1] == body:
                return
            time.sleep(POLL)
        raise AssertionError(f"{self.url} never answered {body!r}")

    def gap(self) -> float:
        """The longest time between two answers (the downtime a client sees, to 50 ms)."""
        ok = [t for t, body in self.answers if body is not None]
        if len(ok) < 2:
            raise AssertionError("the poller saw fewer than two answers")
        return max(b - a for a, b in zip(ok, ok[1:], strict=False))

    def failed(self) -> int:
        return sum(1 for _, body in self.answers if body is None)


def _compose(registry: LocalRegistry, tag: str, port: int) -> str:
    return WEB_COMPOSE.format(image=registry.image(REPOSITORY, tag), port=port)


def _drop_local(registry: LocalRegistry) -> None:
    """Both sides pull from the registry: no image of it stays on the engine between rounds."""
    client = docker_client()
    try:
        remove_images(client, registry)
    finally:
        client.close()


@contextmanager
def _raw_project(tmp: Path, name: str) -> Iterator[Project]:
    directory = tmp / name
    directory.mkdir(parents=True)
    (directory / ".env").write_text("")
    project = Project(name=f"bench-{name}", directory=directory, docker_host="unix:///var/run/docker.sock")
    try:
        yield project
    finally:  # also after a failure or Ctrl-C
        down = project.command("down", "--volumes")
        subprocess.run(down, env=project.env(), check=False, capture_output=True)


def _compose_run(project: Project, *args: str) -> None:
    done = subprocess.run(
        project.command(*args), env=project.env(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"docker compose {' '.join(args)} failed: {done.stderr.strip()}")


def raw_update(tmp: Path, registry: LocalRegistry, name: str) -> tuple[float, int]:
    port = free_port()
    with _raw_project(tmp, name) as project:
        compose = project.directory / "compose.yaml"
        compose.write_text(_compose(registry, "1.0.0", port))
        _compose_run(project, "up", "--detach", "--wait")
        with Poller(port) as poller:
            poller.wait_for("web 1.0.0\n")
            compose.write_text(_compose(registry, "1.1.0", port))
            _compose_run(project, "pull")
            _compose_run(project, "up", "--detach")
            poller.wait_for("web 1.1.0\n")
            time.sleep(0.5)
        return poller.gap(), poller.failed()


def appos_update(stack: Stack, token: str, registry: LocalRegistry, name: str) -> tuple[float, int, float]:
    port = free_port()
    _, deployment = stack.deploy(token, {"name": name, "compose": _compose(registry, "1.0.0", port)})
    assert deployment["status"] == "succeeded", deployment
    try:
        with Poller(port) as poller:
            poller.wait_for("web 1.0.0\n")
            started = time.perf_counter()
            with stack.client(token) as c:
                r = c.post(f"/api/v1/apps/{name}/update", json={"services": {"web": "1.1.0"}})
            assert r.status_code == 202, r.text
            ended = stack.wait_deployment(token, r.json()["deployment"]["id"], timeout=300)
            took = time.perf_counter() - started
            assert ended["status"] == "succeeded", ended
            poller.wait_for("web 1.1.0\n")
            time.sleep(0.5)
        return poller.gap(), poller.failed(), took
    finally:
        stack.act(token, name, "remove", remove_volumes="true")


def seed_checked_apps(stack: Stack, registry: LocalRegistry, digest: str, count: int) -> None:
    """`count` apps as state rows whose newest succeeded deployment ran `…/web:1.0.0` at `digest`
    (no containers: a check reads only what deployments recorded, then asks the registry)."""
    image = registry.image(REPOSITORY, "1.0.0")
    state = StateClient(stack.run_dir / "state.sock", timeout=30)
    try:
        for i in range(count):
            created = state.stub.CreateApp(
                state_pb2.StateCreateAppRequest(
                    name=f"chk{i:03d}", compose=_compose(registry, "1.0.0", 1), env="", actor="bench",
                    message="bench", auto_rollback=True,
                )
            )  # fmt: skip
            for before, after in (("pending", "running"), ("running", "succeeded")):
                state.stub.TransitionDeployment(
                    state_pb2.StateTransitionDeploymentRequest(
                        id=created.deployment.id, from_statuses=[before], to_status=after, reason="",
                        images=[apps_pb2.ServiceImage(service="web", image=image, digest=digest)]
                        if after == "succeeded" else [],
                    )
                )  # fmt: skip
    finally:
        state.close()


def timed_check(stack: Stack, token: str) -> tuple[float, dict[str, Any]]:
    """POST the check while subscribed to the events; seconds to its `updates_checked`, its payload."""
    headers = {"Authorization": f"Bearer {token}"}
    timeout = httpx.Timeout(10, read=600)
    with httpx.stream("GET", f"{stack.url}/api/v1/events", headers=headers, timeout=timeout) as events:
        lines = events.iter_lines()
        while not next(lines).startswith(": events after "):
            pass
        start = time.perf_counter()
        with stack.client(token) as c:
            r = c.post("/api/v1/updates/check", json={})
        assert r.status_code == 202, r.text
        for line in lines:
            if line.startswith("data: "):
                event = json.loads(line.removeprefix("data: "))
                if event["type"] == "updates_checked":
                    return time.perf_counter() - start, event["payload"]
    raise AssertionError("the events stream ended before updates_checked")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory(prefix="appos-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with running_registry(tmp / "registry") as registry:
            try:
                client = docker_client()
                try:
                    digests = {
                        v: push_image(client, registry.image(REPOSITORY, v), content=f"web {v}\n")
                        for v in VERSIONS
                    }
                finally:
                    client.close()
                with running_stack(tmp / "stack") as stack:
                    token = stack.login()
                    appos: list[tuple[float, int, float]] = []
                    raw: list[tuple[float, int]] = []
                    for i in range(rounds):
                        _drop_local(registry)
                        raw.append(raw_update(tmp, registry, f"raw{i}"))
                        _drop_local(registry)
                        appos.append(appos_update(stack, token, registry, f"up{i}"))
                    a = statistics.median(g for g, _, _ in appos)
                    r = statistics.median(g for g, _ in raw)
                    print(f"update of a healthchecked one-service app, 1.0.0 → 1.1.0, {rounds} rounds")
                    print("  downtime a 50 ms poller sees (median longest gap between answers, seconds):")
                    print(f"    AppOS update {a:.3f}   compose pull && up -d {r:.3f}   ratio {a / r:.2f}")
                    print("    rounds AppOS " + " ".join(f"{g:.3f} ({n} failed polls)" for g, n, _ in appos))
                    print("    rounds raw   " + " ".join(f"{g:.3f} ({n} failed polls)" for g, n in raw))
                    took = statistics.median(t for _, _, t in appos)
                    print(
                        "  AppOS update POST→succeeded (snapshot, pull, redeploy, health gate):"
                        f" {took:.2f} s median"
                    )

                    count = 100
                    seed_checked_apps(stack, registry, digests["1.0.0"], count)
                    seconds, payload = timed_check(stack, token)
                    print(
                        f"check of {payload.get('apps')} apps against the loopback registry: {seconds:.2f} s"
                        f" ({payload.get('updates')} updates, {payload.get('unknown')} unknown;"
                        f" {seconds / max(1, int(payload.get('apps') or 1)) * 1000:.1f} ms per app)"
                    )
            finally:
                _drop_local(registry)


if __name__ == "__main__":
    with docker_engine():  # started here when none answers, and stopped after
        main()
