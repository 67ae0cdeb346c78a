"""Load on loopback: 1,000 apps, 100 open event clients (half server-sent events, half
WebSockets), concurrent reads and a trickle of writes whose events fan out to every client, for
`--minutes` (default 10). Reports throughput, p50/p99 per route, event delivery, and each
process's memory (PSS of the program and its children) at the start and end: no leak means no
steady growth.

The apps are created as state rows through the internal State service (each with its compose
file, a version and a deployment, cancelled before it was queued): reads and event streams are what
this measures, and 1,000 real deployments would measure Docker and Compose instead (and need
1,000 containers on a 2-core machine).

Run: .venv/bin/python bench/load.py [--minutes 1] [--apps 1000] [--clients 100] [--readers 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import websockets  # noqa: E402

from appos.v1 import state_pb2  # noqa: E402
from services.common.state_client import StateClient  # noqa: E402
from tests.harness import Stack, docker_engine, start_stack  # noqa: E402

PROGRAMS = ("gateway", "state", "deployer", "proxyctl", "terminal", "redis", "caddy")
COMPOSE = (
    "services:\n  main:\n    image: appos-test/busybox:latest\n    pull_policy: never\n"
    '    network_mode: none\n    command: ["sleep", "3600"]\n'
)


def seed_apps(stack: Stack, count: int, prefix: str = "ld") -> list[str]:
    """`count` apps as state rows, their deployments cancelled before anyone queued them."""
    state = StateClient(stack.run_dir / "state.sock", timeout=30)
    names = []
    try:
        for i in range(count):
            name = f"{prefix}{i:04d}"
            created = state.stub.CreateApp(
                state_pb2.StateCreateAppRequest(
                    name=name,
                    compose=COMPOSE,
                    env=f"N={i}\n",
                    actor="bench",
                    message="load",
                    auto_rollback=True,
                ),
            )
            state.stub.TransitionDeployment(
                state_pb2.StateTransitionDeploymentRequest(
                    id=created.deployment.id,
                    from_statuses=["pending"],
                    to_status="cancelled",
                    reason="load bench",
                ),
            )
            names.append(name)
    finally:
        state.close()
    return names


def pss_mib(pid: int) -> float:
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
            pids += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            continue
    return total / 1024


def memory(stack: Stack) -> dict[str, float]:
    out = {}
    for program in PROGRAMS:
        pid = stack.supervisorctl("pid", program).strip()
        if pid.isdigit() and int(pid) > 0:
            out[program] = pss_mib(int(pid))
    return out


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    events: list[int] = field(default_factory=list)  # per client
    writes: int = 0


async def reader(client: httpx.AsyncClient, apps: list[str], stats: Stats, until: float) -> None:
    routes: list[tuple[str, Callable[[], str]]] = [
        ("GET /api/v1/apps", lambda: "/api/v1/apps"),
        ("GET /api/v1/apps/{app}", lambda: f"/api/v1/apps/{random.choice(apps)}"),
        ("GET /api/v1/apps/{app}/versions", lambda: f"/api/v1/apps/{random.choice(apps)}/versions"),
        ("GET /api/v1/deployments", lambda: "/api/v1/deployments"),
        ("GET /api/v1/catalog", lambda: "/api/v1/catalog"),
    ]
    weights = [1, 6, 3, 3, 1]
    while time.monotonic() < until:
        name, path = random.choices(routes, weights)[0]
        started = time.perf_counter()
        try:
            r = await client.get(path())
            ok = r.status_code == 200
        except httpx.HTTPError as exc:
            stats.errors[f"{name}: {type(exc).__name__}"] += 1
            continue
        if ok:
            stats.latencies[name].append(time.perf_counter() - started)
        else:
            stats.errors[f"{name}: {r.status_code}"] += 1


async def writer(client: httpx.AsyncClient, apps: list[str], stats: Stats, until: float, rate: float) -> None:
    """A trickle of writes (app options): each is an event every client must get."""
    flag = False
    while time.monotonic() < until:
        flag = not flag
        started = time.perf_counter()
        r = await client.patch(f"/api/v1/apps/{random.choice(apps)}/options", json={"auto_rollback": flag})
        if r.status_code == 200:
            stats.writes += 1
            stats.latencies["PATCH /api/v1/apps/{app}/options"].append(time.perf_counter() - started)
        else:
            stats.errors["PATCH options"] += 1
        await asyncio.sleep(1 / rate)


async def sse_client(
    url: str, token: str, after: int, stop: asyncio.Event, counts: list[int], i: int, ready: asyncio.Event
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=None)) as client:
        while not stop.is_set():
            async with client.stream(
                "GET", f"{url}/api/v1/events", params={"after": after}, headers=headers
            ) as r:
                if r.status_code != 200:  # the previous round's streams may not be closed yet
                    await asyncio.sleep(0.2)
                    continue
                ready.set()
                async for line in r.aiter_lines():
                    if line.startswith("data:"):
                        counts[i] += 1
                    if stop.is_set():
                        return


async def ws_client(
    url: str, token: str, after: int, stop: asyncio.Event, counts: list[int], i: int, ready: asyncio.Event
) -> None:
    ws_url = url.replace("http://", "ws://") + f"/api/v1/events/ws?after={after}"
    while not stop.is_set():
        try:
            ws = await websockets.connect(ws_url, subprotocols=["appos.v1", f"bearer.{token}"])  # type: ignore[list-item]
        except websockets.exceptions.InvalidStatus:  # refused: the previous round's may not be closed yet
            await asyncio.sleep(0.2)
            continue
        async with ws:
            ready.set()
            while not stop.is_set():
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), timeout=1))
                except TimeoutError:
                    continue
                if "seq" in message:
                    counts[i] += 1
            return


async def _delivered(counts: list[int], base: list[int], settle: float = 1.0, limit: float = 60.0) -> None:
    """Until every client has as many events as the one that has most and nothing new came for
    `settle` seconds (the last events are on their way), or `limit` seconds."""
    deadline = time.monotonic() + limit
    seen = list(counts)
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if counts != seen:
            seen, quiet_since = list(counts), time.monotonic()
            continue
        got = [c - b for c, b in zip(counts, base, strict=True)]
        if min(got) == max(got) and time.monotonic() - quiet_since >= settle:
            return


async def newest_seq(url: str, token: str) -> int:
    """The seq of the newest event: the `hello` a WebSocket without `after` starts with."""
    ws_url = url.replace("http://", "ws://") + "/api/v1/events/ws"
    async with websockets.connect(ws_url, subprotocols=["appos.v1", f"bearer.{token}"]) as ws:  # type: ignore[list-item]
        hello = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
    return int(hello["after"])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


async def run_load(
    url: str,
    token: str,
    apps: list[str],
    *,
    clients: int,
    readers: int,
    seconds: float,
    write_rate: float = 4.0,
) -> tuple[Stats, float]:
    stats = Stats()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        last = (await client.get("/api/v1/apps")).status_code  # warm
        assert last == 200
        stop = asyncio.Event()
        counts = [0] * clients
        # from the newest event on: clients follow live traffic (a catch-up from seq 0 by 100
        # clients at once is another measurement)
        first = (await client.get("/api/v1/deployments", params={"page_size": "1"})).status_code
        assert first == 200
        after = await newest_seq(url, token)
        readies = [asyncio.Event() for _ in range(clients)]
        streams = [
            asyncio.create_task(
                (sse_client if i % 2 == 0 else ws_client)(url, token, after, stop, counts, i, readies[i])
            )
            for i in range(clients)
        ]
        try:  # every client has its stream open (no backlog: they start from the newest event)
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=120)
        except TimeoutError:
            failed = [t.exception() for t in streams if t.done() and t.exception()]
            raise SystemExit(
                f"only {sum(r.is_set() for r in readies)} of {clients} event clients connected; {failed[:3]}"
            ) from None
        base = list(counts)
        started = time.monotonic()
        until = started + seconds
        await asyncio.gather(
            *(reader(client, apps, stats, until) for _ in range(readers)),
            writer(client, apps, stats, until, write_rate),
        )
        elapsed = time.monotonic() - started
        await _delivered(counts, base)
        stop.set()
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
        stats.events = [c - b for c, b in zip(counts, base, strict=True)]
    return stats, elapsed


def report(
    stats: Stats, elapsed: float, mem_start: dict[str, float], mem_end: dict[str, float], clients: int
) -> None:
    total = sum(len(v) for v in stats.latencies.values())
    every = [x for v in stats.latencies.values() for x in v]
    print(
        f"\nrequests: {total} in {elapsed:.0f} s = {total / elapsed:.0f}/s; errors: {dict(stats.errors) or 0}"
    )
    print(f"all: p50 {percentile(every, 0.5):.1f} ms, p99 {percentile(every, 0.99):.1f} ms")
    print("| route | count | p50 ms | p99 ms |\n| --- | --- | --- | --- |")
    for name, values in sorted(stats.latencies.items()):
        print(f"| {name} | {len(values)} | {percentile(values, 0.5):.1f} | {percentile(values, 0.99):.1f} |")
    got = stats.events
    print(
        f"\nevents: {stats.writes} writes → per client min {min(got)}, median {statistics.median(got):.0f}, "
        f"max {max(got)} events ({clients} clients; a write that changes an option is one event)"
    )
    print("\n| process | PSS start MiB | PSS end MiB | growth MiB |\n| --- | --- | --- | --- |")
    for program in PROGRAMS:
        a, b = mem_start.get(program, 0.0), mem_end.get(program, 0.0)
        print(f"| {program} | {a:.1f} | {b:.1f} | {b - a:+.1f} |")
    a, b = sum(mem_start.values()), sum(mem_end.values())
    print(f"| **total** | {a:.1f} | {b:.1f} | {b - a:+.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--readers", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="appos-load-") as tmp:
        # every client streams with the same login: allow it as many open streams
        stack = start_stack(Path(tmp), extra_env={"APPOS_STREAMS_PER_USER": str(args.clients + 10)})
        try:
            token = stack.login()
            started = time.monotonic()
            apps = seed_apps(stack, args.apps)
            print(f"{len(apps)} apps created in {time.monotonic() - started:.0f} s")
            # a minute of warm-up so caches and pools are full before the first memory sample
            warm = min(60.0, args.minutes * 60 / 5)
            asyncio.run(
                run_load(stack.url, token, apps, clients=args.clients, readers=args.readers, seconds=warm)
            )
            mem_start = memory(stack)
            stats, elapsed = asyncio.run(
                run_load(
                    stack.url,
                    token,
                    apps,
                    clients=args.clients,
                    readers=args.readers,
                    seconds=args.minutes * 60,
                )
            )
            mem_end = memory(stack)
            report(stats, elapsed, mem_start, mem_end, args.clients)
        finally:
            stack.stop()


if __name__ == "__main__":
    with docker_engine():  # started here when none answers, and stopped after
        main()
