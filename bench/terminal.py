"""Terminal speed, through the whole path (WebSocket -> gateway -> gRPC -> terminal service -> PTY)
against a PTY read directly by this process, in the same run:

- throughput: `cat` of the base64 of 10 MB of random bytes (13.5 MB of output), median of several
  rounds each way; prints both rates and their ratio (target >= 0.8x, issue 18). Twice: with a client that
  does not ask for WebSocket compression (CLIs, scripts), and with permessage-deflate, which every
  browser negotiates (uvicorn accepts it for all WebSockets: the gateway then deflates the output);
- keystroke echo: one byte typed into `cat` (the terminal's own echo answers), round trip until
  it comes back, p50/p99 (target p99 <= 3 ms on loopback, issue 18); the same against a direct PTY.

Run: .venv/bin/python bench/terminal.py [rounds, default 5] [keys, default 500]
"""

from __future__ import annotations

import base64
import contextlib
import os
import select
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ptyprocess import PtyProcess
from websockets.sync.client import connect
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness import docker_engine, start_stack  # noqa: E402

END = b"END-2"  # what `echo END-$((1+1))` prints; base64 never holds a '-'


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def direct_cat(path: Path) -> tuple[int, float]:
    """Bytes and seconds to read `cat path` from a PTY of our own until EOF."""
    start = time.perf_counter()
    proc = PtyProcess.spawn(["cat", str(path)], dimensions=(24, 80))
    total = 0
    while True:
        try:
            data = os.read(proc.fd, 65536)
        except OSError:
            break
        if not data:
            break
        total += len(data)
    elapsed = time.perf_counter() - start
    proc.close(force=True)
    return total, elapsed


def recv_until(ws: Any, needle: bytes, tail: bytearray) -> int:
    """Receive frames until `needle` appears; returns the bytes received."""
    total = 0
    while True:
        frame = ws.recv(timeout=120)
        if isinstance(frame, str):
            continue
        total += len(frame)
        tail += frame
        del tail[: max(0, len(tail) - 64)]
        if needle in tail:
            return total


def appos_cat(ws: Any, path: Path) -> tuple[int, float]:
    tail = bytearray()
    start = time.perf_counter()
    ws.send(f"cat {path}; echo END-$((1+1))\r".encode())
    total = recv_until(ws, END, tail)
    return total, time.perf_counter() - start


def echo_rtts(send: Any, receive: Any, keys: int) -> list[float]:
    samples = []
    for i in range(keys):
        key = bytes([ord("a") + i % 26])
        start = time.perf_counter()
        send(key)
        while key not in receive():
            pass
        samples.append(time.perf_counter() - start)
    return samples


def direct_echo(keys: int) -> list[float]:
    proc = PtyProcess.spawn(["cat"], dimensions=(24, 80))
    try:

        def receive() -> bytes:
            select.select([proc.fd], [], [], 10)
            return os.read(proc.fd, 65536)

        return echo_rtts(lambda b: os.write(proc.fd, b), receive, keys)
    finally:
        proc.close(force=True)


@contextlib.contextmanager
def session(stack: Any, token: str, *, compression: str | None) -> Iterator[Any]:
    """A host shell with echo off, ended (close 1000) afterwards."""
    url = f"ws://127.0.0.1:{stack.port}/api/v1/terminal/ws?target=host"
    protocols = [Subprotocol("appos.v1"), Subprotocol(f"bearer.{token}")]
    with connect(url, subprotocols=protocols, max_size=None, compression=compression) as ws:
        ws.recv(timeout=30)  # opened
        ws.send(b"stty -echo; echo END-$((1+1))\r")
        recv_until(ws, END, bytearray())
        yield ws


def throughput(stack: Any, token: str, payload: Path, rounds: int, compression: str | None) -> list[float]:
    with session(stack, token, compression=compression) as ws:
        rates = []
        for _ in range(rounds):
            size, seconds = appos_cat(ws, payload)
            rates.append(size / seconds)
    return rates


def appos_echo(stack: Any, token: str, keys: int) -> list[float]:
    with session(stack, token, compression=None) as ws:
        ws.send(b"stty echo; cat\r")
        time.sleep(0.5)  # let cat start; then drain what the shell printed
        while True:
            try:
                ws.recv(timeout=0.2)
            except TimeoutError:
                break
        return echo_rtts(ws.send, lambda: ws.recv(timeout=10), keys)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    keys = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    with tempfile.TemporaryDirectory(prefix="appos-bench-") as tmp:
        payload = Path(tmp) / "payload.b64"
        payload.write_bytes(base64.encodebytes(os.urandom(10_000_000)))
        payload_size = payload.stat().st_size
        stack = start_stack(Path(tmp) / "stack")
        try:
            token = stack.login()
            direct = [size / seconds for size, seconds in (direct_cat(payload) for _ in range(rounds))]
            plain = throughput(stack, token, payload, rounds, None)
            deflate = throughput(stack, token, payload, rounds, "deflate")
            direct += [size / seconds for size, seconds in (direct_cat(payload) for _ in range(rounds))]
            appos_rtt = appos_echo(stack, token, keys)
            direct_rtt = direct_echo(keys)
        finally:
            stack.stop()
    d = statistics.median(direct)
    print(f"Throughput: cat of {payload_size} bytes (base64 of 10 MB), median of {rounds} rounds (MB/s)")
    print(f"  {'direct PTY read':56} {d / 1e6:6.1f}")
    for name, rates in (("no compression", plain), ("permessage-deflate", deflate)):
        t = statistics.median(rates)
        label = f"WebSocket -> gateway -> gRPC -> PTY, {name}"
        print(f"  {label:56} {t / 1e6:6.1f}  ratio {t / d:4.2f}", end="")
        print("  (target >= 0.8)")
    a50, a99 = percentiles(appos_rtt)
    b50, b99 = percentiles(direct_rtt)
    print(f"Keystroke echo round trip, {keys} keys (ms)")
    print(f"  through AppOS  p50 {a50 * 1e3:6.2f}  p99 {a99 * 1e3:6.2f}   (target p99 <= 3)")
    print(f"  direct PTY     p50 {b50 * 1e3:6.2f}  p99 {b99 * 1e3:6.2f}")


if __name__ == "__main__":
    with docker_engine():  # started here when none answers, and stopped after
        main()
