"""The server's CPU, memory and disk over the last hour, for the console's overview: a daemon thread
samples /proc and the data folder's filesystem every 15 seconds into a ring of 240 samples (about
10 KB). Linux only; elsewhere the samples hold what could be read (zeros otherwise)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 15.0
WINDOW_SAMPLES = 240  # an hour


@dataclass(frozen=True)
class Sample:
    time_us: int
    cpu_percent: float
    memory_used: int
    memory_total: int
    disk_used: int
    disk_total: int


def cpu_times(stat: str) -> tuple[int, int]:
    """(busy, total) jiffies from /proc/stat's first line."""
    fields = [int(v) for v in stat.splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def memory(meminfo: str) -> tuple[int, int]:
    """(used, total) bytes from /proc/meminfo."""
    values = {}
    for line in meminfo.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            values[key] = int(parts[0]) * 1024
    total = values.get("MemTotal", 0)
    return total - values.get("MemAvailable", values.get("MemFree", 0)), total


class HostSampler:
    def __init__(
        self, data_dir: Path, proc: Path = Path("/proc"), interval: float = INTERVAL_SECONDS
    ) -> None:
        self._data_dir = data_dir
        self._proc = proc
        self._interval = interval
        self._samples: deque[Sample] = deque(maxlen=WINDOW_SAMPLES)
        self._lock = threading.Lock()
        self._last_cpu: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None

    def _read(self, name: str) -> str:
        try:
            return (self._proc / name).read_text()
        except OSError:
            return ""

    def sample(self) -> Sample:
        """Takes a sample now and keeps it (the first one's CPU is since boot)."""
        stat = self._read("stat")
        busy, total = cpu_times(stat) if stat else (0, 0)
        before_busy, before_total = self._last_cpu or (0, 0)
        self._last_cpu = (busy, total)
        spent = total - before_total
        cpu = 100.0 * (busy - before_busy) / spent if spent > 0 else 0.0
        used, mem_total = memory(self._read("meminfo"))
        try:
            fs = os.statvfs(self._data_dir)
            disk_total = fs.f_blocks * fs.f_frsize
            disk_used = disk_total - fs.f_bfree * fs.f_frsize
        except OSError:
            disk_total = disk_used = 0
        taken = Sample(
            time_us=time.time_ns() // 1000, cpu_percent=round(max(0.0, min(cpu, 100.0)), 2),
            memory_used=used, memory_total=mem_total, disk_used=disk_used, disk_total=disk_total,
        )  # fmt: skip
        with self._lock:
            self._samples.append(taken)
        return taken

    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    def start(self) -> None:
        """Samples in a daemon thread from now on (once)."""
        if self._thread is not None:
            return
        self.sample()
        self._thread = threading.Thread(target=self._run, name="host-stats", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self._interval)
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a bad read skips one sample, never the sampler
                logger.debug("host stats: a sample failed", exc_info=True)
