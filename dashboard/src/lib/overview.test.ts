import { describe, expect, it } from "vitest";
import { appsByStatus, certificatesNeedingAttention, hostSeries, recentFailures } from "./overview";

describe("overview figures", () => {
  it("turns host samples into percent series", () => {
    const s = hostSeries([
      { time: "2026-01-01T00:00:00Z", cpu_percent: 12.5, memory_used_bytes: 512, memory_total_bytes: 2048, disk_used_bytes: 30, disk_total_bytes: 120 },
      { time: "2026-01-01T00:00:15Z", cpu_percent: 50, memory_used_bytes: 1024, memory_total_bytes: 2048, disk_used_bytes: 60, disk_total_bytes: 0 },
    ]);
    expect(s.cpu.values).toEqual([12.5, 50]);
    expect(s.memory.values).toEqual([25, 50]);
    expect(s.disk.values).toEqual([25, 0]); // no total: 0, never NaN
    expect(s.cpu.t[1] - s.cpu.t[0]).toBe(15_000);
  });

  it("counts apps by status, the largest group first", () => {
    expect(appsByStatus([{ status: "running" }, { status: "failed" }, { status: "running" }, {}])).toEqual([
      ["running", 2],
      ["failed", 1],
      ["unknown", 1],
    ]);
  });

  it("picks what needs attention", () => {
    const now = Date.parse("2026-01-10T00:00:00Z");
    const deployments = [
      { id: "a", status: "failed", created_at: "2026-01-09T00:00:00Z" },
      { id: "b", status: "succeeded", created_at: "2026-01-09T00:00:00Z" },
      { id: "c", status: "failed", created_at: "2025-12-01T00:00:00Z" }, // too old
    ];
    expect(recentFailures(deployments, now).map((d) => d.id)).toEqual(["a"]);
    const domains = [{ domain: "a", certificate: { status: "valid" } }, { domain: "b", certificate: { status: "expiring" } }, { domain: "c", certificate: { status: "failed" } }, { domain: "d" }];
    expect(certificatesNeedingAttention(domains).map((d) => d.domain)).toEqual(["b", "c"]);
  });
});
