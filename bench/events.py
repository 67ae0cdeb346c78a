"""Live events: from a write request to its event on an open stream, through the whole path
(REST -> gateway -> deployer -> state's write and notifier -> State.Watch -> the gateway's EventHub
-> the client's queue -> WebSocket or SSE), against the plain round trip of the same request, in
the same run.

The write is `PATCH /api/v1/apps/{app}/options {"auto_rollback": …}`, flipped each time, so every
request commits exactly one `app_options_changed` event. One admin client keeps the stream open; a
reader thread stamps each event as it arrives, so an event that comes before the HTTP reply is timed
when it came. Prints p50/p99 for the WebSocket, SSE and the bare request, and the ratios (target:
event p50 <= 5 ms on loopback).

Run: .venv/bin/python bench/events.py [requests per case, default 300]
"""

from __future__ import annotations

import itertools
import json
import queue
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appos.v1 import state_pb2  # noqa: E402
from services.common.state_client import StateClient  # noqa: E402
from tests.harness import Stack, docker_engine, start_stack  # noqa: E402

EVENT = "app_options_changed"
Arrival = tuple[float, dict[str, Any]]  # (perf_counter when it arrived, the event)
# auto_rollback flips with every request (the app starts with it on), so each one is a change
FLIPS = itertools.count(1)


def flip() -> bool:
    return next(FLIPS) % 2 == 0


def seed_app(stack: Stack, name: str) -> str:
    """An app as state rows (auto_rollback on), its first deployment cancelled before it is queued:
    the bench needs the app's record, not containers."""
    state = StateClient(stack.run_dir / "state.sock", timeout=30)
    try:
        compose = "services:\n  main:\n    image: appos-test/busybox:latest\n    pull_policy: never\n"
        created = state.stub.CreateApp(
            state_pb2.StateCreateAppRequest(
                name=name, compose=compose, actor="bench", message="events bench", auto_rollback=True
            )
        )
        state.stub.TransitionDeployment(
            state_pb2.StateTransitionDeploymentRequest(
                id=created.deployment.id, from_statuses=["pending"], to_status="cancelled", reason="bench"
            )
        )
    finally:
        state.close()
    return name


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def ws_events(stack: Stack, token: str, ready: threading.Event, stop: threading.Event) -> Iterator[Arrival]:
    url = f"ws://127.0.0.1:{stack.port}/api/v1/events/ws"
    protocols = [Subprotocol("appos.v1"), Subprotocol(f"bearer.{token}")]
    with connect(url, subprotocols=protocols, compression=None) as ws:
        ws.recv(timeout=30)  # hello
        ready.set()
        while not stop.is_set():
            try:
                frame = ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            arrived = time.perf_counter()
            yield arrived, json.loads(frame)


def sse_events(stack: Stack, token: str, ready: threading.Event, stop: threading.Event) -> Iterator[Arrival]:
    headers = {"Authorization": f"Bearer {token}"}
    timeout = httpx.Timeout(30, read=None)
    with (
        httpx.Client(timeout=timeout) as client,
        client.stream("GET", f"{stack.url}/api/v1/events", headers=headers) as response,
    ):
        response.raise_for_status()
        for line in response.iter_lines():
            if stop.is_set():
                return
            if line.startswith(": events after"):
                ready.set()
            elif line.startswith("data:"):
                yield time.perf_counter(), json.loads(line.removeprefix("data:"))


def latencies(
    stack: Stack, token: str, app: str, n: int, stream: Callable[..., Iterator[Arrival]]
) -> list[float]:
    """Send each request, then wait for its event; the time from sending to the event's arrival."""
    arrivals: queue.Queue[Arrival] = queue.Queue()
    ready, stop = threading.Event(), threading.Event()

    def read() -> None:
        for arrival in stream(stack, token, ready, stop):
            if arrival[1].get("type") == EVENT and arrival[1].get("subject") == app:
                arrivals.put(arrival)

    reader = threading.Thread(target=read, name="events-reader", daemon=True)
    reader.start()
    if not ready.wait(30):
        raise RuntimeError("the event stream did not open")
    samples = []
    try:
        with stack.client(token) as client:
            for i in range(n + 20):  # the first 20 warm up
                flag = flip()
                start = time.perf_counter()
                client.patch(f"/api/v1/apps/{app}/options", json={"auto_rollback": flag}).raise_for_status()
                arrived, event = arrivals.get(timeout=10)
                if event["payload"].get("auto_rollback") != flag:
                    raise RuntimeError(f"an event out of order: {event}")
                if i >= 20:
                    samples.append(arrived - start)
    finally:
        stop.set()
        with stack.client(token) as client:  # one more event, so an SSE reader sees `stop`
            client.patch(f"/api/v1/apps/{app}/options", json={"auto_rollback": flip()})
        reader.join(5)
    return samples


def round_trips(stack: Stack, token: str, app: str, n: int) -> list[float]:
    samples = []
    with stack.client(token) as client:
        for i in range(n + 20):  # the first 20 warm up
            start = time.perf_counter()
            client.patch(f"/api/v1/apps/{app}/options", json={"auto_rollback": flip()}).raise_for_status()
            if i >= 20:
                samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory(prefix="appos-bench-") as tmp:
        stack = start_stack(Path(tmp))
        try:
            token = stack.login()
            app = seed_app(stack, "events-bench")
            plain = round_trips(stack, token, app, n)
            ws = latencies(stack, token, app, n, ws_events)
            sse = latencies(stack, token, app, n, sse_events)
            plain += round_trips(stack, token, app, n)
        finally:
            stack.stop()
    base50, base99 = percentiles(plain)
    print(f"PATCH /api/v1/apps/{{app}}/options -> {EVENT} on an open stream, {n} requests (ms)")
    print(f"  {'request round trip, no stream (2 runs)':40} p50 {base50 * 1e3:6.2f}  p99 {base99 * 1e3:6.2f}")
    for name, samples in (("WebSocket /api/v1/events/ws", ws), ("SSE /api/v1/events", sse)):
        p50, p99 = percentiles(samples)
        print(
            f"  {'request -> event, ' + name:40} p50 {p50 * 1e3:6.2f}  p99 {p99 * 1e3:6.2f}"
            f"  ratio p50 {p50 / base50:4.2f}   (target p50 <= 5)"
        )


if __name__ == "__main__":
    with docker_engine():  # started here when none answers, and stopped after
        main()
