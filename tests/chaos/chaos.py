"""Chaos: a steady load of deploys, edits, rollbacks and reads while parts are killed with
SIGKILL one at a time; then what must hold. Used by tests/chaos/test_chaos.py (short, in `make
test`) and by `make chaos` (APPOS_CHAOS_ROUNDS rounds over every part)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.launcher import start_supervisord, stop_process, wait_healthy
from tests import consistency
from tests.fuzz.runner import BUSYBOX_COMPOSE
from tests.harness import Stack, app_containers, app_of, wait_for

# the Celery worker runs inside the deployer: killing the deployer kills it too
PROGRAMS = ("gateway", "state", "deployer", "proxyctl", "terminal", "redis", "caddy")
# A killed worker's deployment is noticed when its alive key expires, then retried once.
QUICK_RECONCILE = {
    "APPOS_HEARTBEAT_SECONDS": "1",
    "APPOS_HEARTBEAT_TTL_SECONDS": "4",
    "APPOS_RECONCILE_INTERVAL_SECONDS": "1",
}
CLIENT_TIMEOUT = 30.0  # a reply slower than this is a hang


@dataclass
class Record:
    """What the clients saw and what the server acknowledged."""

    statuses: Counter[str] = field(default_factory=Counter)
    hangs: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    versions: dict[str, set[int]] = field(default_factory=dict)  # app → acknowledged version numbers
    deployments: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, what: str, response: httpx.Response | None, error: Exception | None = None) -> None:
        with self.lock:
            self.requests += 1
            if error is not None:
                if isinstance(error, httpx.TimeoutException):
                    self.hangs.append(f"{what}: {error!r}")
                self.statuses[type(error).__name__] += 1
                return
            assert response is not None
            self.statuses[str(response.status_code)] += 1
            if response.status_code >= 500 and response.status_code not in (503, 504):
                self.server_errors.append(f"{what}: {response.status_code} {response.text[:300]}")


def compose_text(n: int) -> str:
    return BUSYBOX_COMPOSE + f"    environment:\n      EDIT: '{n}'\n"


class Load:
    """Threads that deploy, edit, roll back and read apps (and create users) until stopped."""

    def __init__(self, stack: Stack, token: str, apps: list[str], record: Record) -> None:
        self.stack, self.token, self.apps, self.record = stack, token, apps, record
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._writer, args=(app,), daemon=True) for app in apps]
        self.threads.append(threading.Thread(target=self._reader, daemon=True))

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(CLIENT_TIMEOUT * 3)

    def _call(self, c: httpx.Client, what: str, method: str, path: str, **kw: Any) -> httpx.Response | None:
        try:
            response = c.request(method, path, **kw)
        except httpx.HTTPError as exc:
            self.record.saw(what, None, exc)
            time.sleep(0.2)
            return None
        self.record.saw(what, response)
        return response

    def _writer(self, app: str) -> None:
        n = 0
        with httpx.Client(base_url=self.stack.url, timeout=CLIENT_TIMEOUT, headers=self._auth()) as c:
            while not self.stop.is_set():
                n += 1
                step = n % 4
                if step == 0:
                    r = self._call(c, "redeploy", "POST", f"/api/v1/apps/{app}/redeploy", json={})
                    if r is not None and r.status_code == 202:
                        self._ack_deployment(r.json())
                elif step in (1, 2):
                    got = self._call(c, "get compose", "GET", f"/api/v1/apps/{app}/compose")
                    if got is None or got.status_code != 200:
                        continue
                    r = self._call(
                        c, "edit", "PUT", f"/api/v1/apps/{app}/compose",
                        params={"deploy": "true"}, headers={"If-Match": got.headers["etag"]},
                        json={"compose": compose_text(n), "env": "", "message": f"chaos {n}"},
                    )  # fmt: skip
                    if r is not None and r.status_code == 200:
                        self._ack_version(app, r.json())
                else:
                    r = self._call(c, "rollback", "POST", f"/api/v1/apps/{app}/rollback", json={"version": 1})
                    if r is not None and r.status_code in (200, 202):
                        self._ack_version(app, r.json())
                time.sleep(0.3)

    def _reader(self) -> None:
        n = 0
        with httpx.Client(base_url=self.stack.url, timeout=CLIENT_TIMEOUT, headers=self._auth()) as c:
            while not self.stop.is_set():
                n += 1
                for path in (
                    "/api/v1/apps",
                    "/api/v1/deployments",
                    f"/api/v1/apps/{self.apps[n % len(self.apps)]}",
                ):
                    self._call(c, f"GET {path}", "GET", path)
                name = f"chaos{uuid.uuid4().hex[:8]}"
                r = self._call(
                    c, "create user", "POST", "/api/v1/users",
                    json={"username": name, "password": "Chaos-user-pw-1", "role": "viewer"},
                )  # fmt: skip
                if r is not None and r.status_code == 200:
                    with self.record.lock:
                        self.record.users.add(name)
                time.sleep(0.2)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _ack_version(self, app: str, body: dict[str, Any]) -> None:
        with self.record.lock:
            self.record.versions.setdefault(app, set()).add(int(body["version"]["number"]))
            if body.get("deployment", {}).get("id"):
                self.record.deployments.add(body["deployment"]["id"])

    def _ack_deployment(self, body: dict[str, Any]) -> None:
        with self.record.lock:
            self.record.deployments.add(body["deployment"]["id"])


def kill_and_wait(stack: Stack, program: str, *, timeout: float = 90) -> float:
    """SIGKILL the program; wait for supervisord to run a new one and /health to be 200 again.
    The seconds it took."""
    started = time.monotonic()
    pid = stack.pid_of(program)
    os.kill(pid, signal.SIGKILL)

    def back() -> bool:
        out = stack.supervisorctl("pid", program).strip()
        return out.isdigit() and int(out) not in (0, pid) and stack.health() == 200

    wait_for(back, timeout=timeout, interval=0.2, what=f"supervisord to restart {program}")
    return time.monotonic() - started


def redis_cli(stack: Stack, *args: str) -> str:
    socket_path = stack.run_dir / "redis.sock"
    done = subprocess.run(
        ["redis-cli", "-s", str(socket_path), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()


def restart_stack(stack: Stack, *, timeout: float = 120) -> Stack:
    """A full stop (supervisord stops every program) and a start on the same data, port and env."""
    stop_process(stack.proc)
    proc = start_supervisord(stack.env, output=stack.data / "log" / "supervisord.out")
    restarted = Stack(data=stack.data, run_dir=stack.run_dir, port=stack.port, proc=proc, env=stack.env)
    assert wait_healthy(restarted.url, proc, timeout=timeout), (
        "the stack did not come back after a full restart"
    )
    return restarted


def container_states(stack: Stack) -> dict[str, set[str]]:
    """app → the states of its containers (running, exited, …)."""
    states: dict[str, set[str]] = {}
    for c in app_containers(stack.data / "apps"):
        states.setdefault(app_of(c), set()).add(str(c["State"]))
    return states


def verify(stack: Stack, token: str, record: Record, apps: list[str]) -> list[str]:
    """Everything that must hold after the chaos; the list of what does not."""
    found: list[str] = []
    with stack.client(token) as c:
        for app, numbers in record.versions.items():
            listed = c.get(f"/api/v1/apps/{app}/versions", params={"page_size": "500"}).json()["versions"]
            missing = numbers - {int(v["number"]) for v in listed}
            if missing:
                found.append(f"{app}: acknowledged versions {sorted(missing)} are gone")
        for deployment in record.deployments:
            if c.get(f"/api/v1/deployments/{deployment}").status_code != 200:
                found.append(f"acknowledged deployment {deployment} is gone")
        users = {u["username"] for u in c.get("/api/v1/users", params={"page_size": "1000"}).json()["users"]}
        found += [f"acknowledged user {u} is gone" for u in sorted(record.users - users)]
        states = container_states(stack)
        for app in apps:
            deployments = c.get("/api/v1/deployments", params={"app": app, "page_size": "500"}).json()[
                "deployments"
            ]
            done = [d for d in deployments if d["status"] == "succeeded"]
            if not done:
                continue
            last = max(done, key=lambda d: (d.get("finished_at", ""), d.get("created_at", "")))
            expected = "exited" if last["action"] == "stop" else "running"
            if states.get(app) != {expected}:
                seen = states.get(app)
                found.append(f"{app}: last successful deployment was {last['action']}; containers: {seen}")
    found += consistency.problems(stack, token)
    return found
