"""One gateway process against two (APPOS_GATEWAY_PROCESSES), in the same run, and the limits
behind them: state's single SQLite writer and Redis.

Two stacks run side by side, one with each number of gateway processes, and are measured in turn
for `seconds` per round (rounds alternate between them, so a busy moment of the machine falls on
both; the round with the median rate is shown):
- reads: `GET /api/v1/auth/me` with a login's access token (signature check, one Redis MGET, the
  user record from the cache: the gateway's cheapest authenticated call), over 16 keep-alive
  connections to the shared port (the kernel spreads connections over the processes);
- writes: `PATCH /api/v1/users/{name}` flipping the role of 16 users (one per connection): the
  gateway, then state's write of the user, its event and its audit entry in one transaction.
Each case prints requests/s, p50, how the requests fell on the processes (their /metrics, read
through each process's own socket) and the CPU each program spent per request (/proc), so it shows
which process is the limit. The load generator is a bare asyncio HTTP/1.1 client in this process
(its CPU is shown too): on a 2-core machine it competes with what it measures.

Then, on the second stack: state's own write rate (UpdateUser over its Unix socket from 8 threads,
no gateway in the way), Redis's (`redis-benchmark` on its Unix socket) and the latency of the MGET
each access token costs.

Run: .venv/bin/python bench/gateways.py [seconds per case, default 10] [rounds, default 3]
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appos.v1 import state_pb2  # noqa: E402
from services.common.state_client import StateClient  # noqa: E402
from tests.harness import Stack, docker_engine, start_stack, wait_for  # noqa: E402

CONNECTIONS = 16
STATE_THREADS = 8
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    per_process: dict[str, float] = field(default_factory=dict)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU ms per request, by program

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000


def process_socket(stack: Stack, n: int) -> str:
    return str(stack.run_dir / f"gateway-{n}.sock")


def gateway(stack: Stack, n: int, token: str) -> httpx.Client:
    transport = httpx.HTTPTransport(uds=process_socket(stack, n))
    return httpx.Client(
        transport=transport, base_url="http://gateway", headers={"Authorization": f"Bearer {token}"}
    )


def healthy(stack: Stack, n: int) -> bool:
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=process_socket(stack, n))) as c:
            return c.get("http://gateway/health").status_code == 200
    except httpx.TransportError:
        return False


def programs(stack: Stack, processes: int) -> dict[str, int]:
    names = ["gateway", *(f"gateway-extra:gateway-{n}" for n in range(2, processes + 1)), "state", "redis"]
    return {name.rsplit(":", 1)[-1]: stack.pid_of(name) for name in names}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def route_count(stack: Stack, n: int, token: str, route: str) -> float:
    with gateway(stack, n, token) as c:
        text = c.get("/metrics").text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "appos_http_requests_total" and s.labels.get("route") == route
    )


async def read_reply(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    await reader.readexactly(length)
    return int(lines[0].split(" ", 2)[1])


async def drive(port: int, per_connection: list[list[bytes]], seconds: float) -> Result:
    """Each connection sends its requests in turn, one at a time, for `seconds`."""
    result = Result()
    stop_at = 0.0

    async def connection(requests: list[bytes]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = 0
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            writer.write(requests[i % len(requests)])
            status = await read_reply(reader)
            result.latencies.append(time.perf_counter() - start)
            result.statuses[status] += 1
            i += 1
        writer.close()

    stop_at = time.perf_counter() + seconds
    began = time.perf_counter()
    await asyncio.gather(*(connection(requests) for requests in per_connection))
    result.seconds = time.perf_counter() - began
    result.requests = len(result.latencies)
    return result


def measure(
    stack: Stack, processes: int, token: str, route: str, per_connection: list[list[bytes]], seconds: float
) -> Result:
    asyncio.run(drive(stack.port, per_connection, min(2.0, seconds / 4)))  # warm up
    pids = programs(stack, processes)
    counted = {n: route_count(stack, n, token, route) for n in range(1, processes + 1)}
    cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
    own = time.process_time()
    result = asyncio.run(drive(stack.port, per_connection, seconds))
    own = time.process_time() - own
    for name, pid in pids.items():
        result.cpu_ms[name] = (cpu_seconds(pid) - cpu[name]) * 1000 / result.requests
    result.cpu_ms["bench client"] = own * 1000 / result.requests
    answered = {n: route_count(stack, n, token, route) - counted[n] for n in counted}
    total = sum(answered.values()) or 1
    result.per_process = {f"gateway {n}": answered[n] / total for n in answered}
    return result


def request(method: str, path: str, token: str, body: dict[str, object] | None = None) -> bytes:
    payload = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    return head.encode() + b"\r\n" + payload


def make_users(stack: Stack, token: str, count: int) -> list[str]:
    names = [f"bench{i}" for i in range(count)]
    with gateway(stack, 1, token) as c:
        for name in names:
            r = c.post("/api/v1/users", json={"username": name, "password": "p" * 12, "role": "viewer"})
            assert r.status_code == 200, r.text
    return names


def state_write_rate(stack: Stack, users: list[str], seconds: float) -> float:
    """UpdateUser straight to state from STATE_THREADS threads: its single writer's rate."""
    client = StateClient(stack.run_dir / "state.sock", timeout=30)
    done = [0] * STATE_THREADS
    stop_at = time.perf_counter() + seconds

    def writer(k: int) -> None:
        i = 0
        while time.perf_counter() < stop_at:
            role = ("operator", "viewer")[i % 2]
            client.stub.UpdateUser(
                state_pb2.StateUpdateUserRequest(username=users[k % len(users)], role=role, actor="bench")
            )
            i += 1
        done[k] = i

    began = time.perf_counter()
    with ThreadPoolExecutor(STATE_THREADS) as pool:
        list(pool.map(writer, range(STATE_THREADS)))
    rate = sum(done) / (time.perf_counter() - began)
    client.close()
    return rate


def redis_figures(stack: Stack) -> tuple[float, float]:
    """(MGETs/s that redis-benchmark gets from the stack's Redis, p50 µs of one MGET from asyncio)."""
    sock = str(stack.run_dir / "redis.sock")
    out = subprocess.run(
        ["redis-benchmark", "-s", sock, "-c", "16", "-n", "200000", "-q", "MGET", "k1", "k2"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(
        re.findall(r"([0-9.]+) requests per second", out)[-1]
    )  # "MGET k1 k2: 78864.35 requests per second"

    async def one_by_one() -> float:
        redis = Redis(unix_socket_path=sock)
        took = []
        for _ in range(3000):
            start = time.perf_counter()
            await redis.mget(["appos:session:revoked:x", "appos:user:generation:y"])
            took.append(time.perf_counter() - start)
        await redis.aclose()
        return statistics.median(took[500:]) * 1e6

    return rate, asyncio.run(one_by_one())


@dataclass
class Bench:
    processes: int
    stack: Stack
    token: str
    me: list[list[bytes]]
    flips: list[list[bytes]]
    users: list[str]


def start(processes: int, folder: Path) -> Bench:
    stack = start_stack(
        folder, extra_env={"APPOS_GATEWAY_PROCESSES": str(processes), "APPOS_LOG_LEVEL": "WARNING"}
    )
    for n in range(1, processes + 1):
        wait_for(lambda n=n: healthy(stack, n), timeout=60, what=f"gateway {n}")
    token = stack.login()
    users = make_users(stack, token, CONNECTIONS)
    flips = [
        [request("PATCH", f"/api/v1/users/{u}", token, {"role": r}) for r in ("operator", "viewer")]
        for u in users
    ]
    me = [[request("GET", "/api/v1/auth/me", token)]] * CONNECTIONS
    return Bench(processes=processes, stack=stack, token=token, me=me, flips=flips, users=users)


def median_of(results: list[Result]) -> Result:
    """The round with the median rate (rounds alternate between the stacks, so a busy moment of
    the machine falls on both)."""
    return sorted(results, key=lambda r: r.rate)[len(results) // 2]


def show(title: str, results: dict[int, Result]) -> None:
    print(f"\n{title}")
    print(f"  {'processes':>9} {'req/s':>8} {'p50 ms':>7}  {'share per process':<18} CPU ms per request")
    for processes, r in results.items():
        assert set(r.statuses) == {200}, r.statuses
        share = ", ".join(f"{v:.0%}" for v in r.per_process.values())
        cpu = ", ".join(f"{name} {ms:.2f}" for name, ms in r.cpu_ms.items())
        print(f"  {processes:>9} {r.rate:>8.0f} {r.p50_ms:>7.1f}  {share:<18} {cpu}")
    print(f"  2 processes / 1: {results[2].rate / results[1].rate:.2f}x")
    one = results[1].cpu_ms
    gateway_ms = one["gateway"]
    everything = sum(one.values())
    cores = os.cpu_count() or 1
    print(
        f"  from the CPU per request: one gateway process saturates its core at ~{1000 / gateway_ms:.0f}/s; "
        f"the {cores} cores (gateways, state, Redis and the client) at ~{cores * 1000 / everything:.0f}/s"
    )


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {CONNECTIONS} keep-alive "
        f"connections; {rounds} rounds of {seconds:.0f} s per case, alternating the stacks"
    )
    reads: dict[int, list[Result]] = {1: [], 2: []}
    writes: dict[int, list[Result]] = {1: [], 2: []}
    with docker_engine(), tempfile.TemporaryDirectory(prefix="appos-bench-gw") as tmp:
        benches = [start(processes, Path(tmp) / str(processes)) for processes in (1, 2)]
        try:
            for _ in range(rounds):
                for b in benches:
                    route = "/api/v1/auth/me"
                    reads[b.processes].append(measure(b.stack, b.processes, b.token, route, b.me, seconds))
                for b in benches:
                    route = "/api/v1/users/{username}"
                    writes[b.processes].append(
                        measure(b.stack, b.processes, b.token, route, b.flips, seconds)
                    )
            two = benches[1]
            state_rate = state_write_rate(two.stack, two.users, seconds)
            redis_rate, mget_us = redis_figures(two.stack)
        finally:
            for b in benches:
                b.stack.stop()
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    read = {n: median_of(r) for n, r in reads.items()}
    write = {n: median_of(r) for n, r in writes.items()}
    show("reads: GET /api/v1/auth/me (access token)", read)
    show("writes: PATCH /api/v1/users/{name} (role flip: state writes user + event + audit)", write)
    print(f"\nstate alone: {state_rate:.0f} UpdateUser/s from {STATE_THREADS} threads on its Unix socket")
    print(f"  writes through 2 gateways / state alone: {write[2].rate / state_rate:.2f}")
    print(f"redis: {redis_rate:.0f} MGET/s (redis-benchmark, 16 clients)")
    print(f"  one MGET from the gateway's client (redis.asyncio): p50 {mget_us:.0f} us")
    print(f"  reads through 2 gateways use {read[2].rate / redis_rate:.1%} of that")


if __name__ == "__main__":
    main()
