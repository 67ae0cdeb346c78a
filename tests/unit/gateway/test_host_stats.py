"""The overview's host samples: /proc parsed, CPU as the busy share between samples, a bounded ring."""

from __future__ import annotations

from pathlib import Path

from services.gateway.host_stats import WINDOW_SAMPLES, HostSampler, cpu_times, memory

MEMINFO = "MemTotal:       2048 kB\nMemFree:         512 kB\nMemAvailable:   1024 kB\n"


def test_proc_files_are_read() -> None:
    assert cpu_times("cpu  10 0 10 70 10 0 0 0 0 0\ncpu0 1 2 3 4\n") == (20, 100)
    assert memory(MEMINFO) == (1024 * 1024, 2048 * 1024)


def test_cpu_is_the_busy_share_since_the_sample_before(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "meminfo").write_text(MEMINFO)
    (proc / "stat").write_text("cpu  10 0 10 70 10 0 0 0\n")
    sampler = HostSampler(tmp_path, proc=proc)
    sampler.sample()
    (proc / "stat").write_text("cpu  40 0 10 110 20 0 0 0\n")  # +30 busy of +80
    second = sampler.sample()
    assert second.cpu_percent == 37.5
    assert (second.memory_used, second.memory_total) == (1024 * 1024, 2048 * 1024)
    assert 0 < second.disk_used <= second.disk_total  # the data folder's filesystem
    for _ in range(WINDOW_SAMPLES + 5):
        sampler.sample()
    assert len(sampler.samples()) == WINDOW_SAMPLES  # an hour, never more
