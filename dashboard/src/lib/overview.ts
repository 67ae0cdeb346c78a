/** The home page's figures: host samples as plot series, apps counted by status, what needs attention. */
import type { Schemas } from "@/api/client";

type Sample = Schemas["HostSample"];

export interface Series {
  t: number[];
  values: number[];
}

/** Percent series (CPU, memory, disk) of the host samples, oldest first. */
export function hostSeries(samples: Sample[]): { cpu: Series; memory: Series; disk: Series } {
  const t = samples.map((s) => new Date(s.time ?? 0).getTime());
  const share = (used?: number | string, total?: number | string) => (Number(total) > 0 ? (100 * Number(used ?? 0)) / Number(total) : 0);
  return {
    cpu: { t, values: samples.map((s) => s.cpu_percent ?? 0) },
    memory: { t, values: samples.map((s) => share(s.memory_used_bytes, s.memory_total_bytes)) },
    disk: { t, values: samples.map((s) => share(s.disk_used_bytes, s.disk_total_bytes)) },
  };
}

/** How many apps are in each status, the largest group first. */
export function appsByStatus(apps: { status?: string }[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const app of apps) counts.set(app.status || "unknown", (counts.get(app.status || "unknown") ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** Domains whose certificate needs someone: expiring soon, or failed. */
export function certificatesNeedingAttention<D extends { certificate?: { status?: string } }>(domains: D[]): D[] {
  return domains.filter((d) => ["expiring", "failed", "expired"].includes(d.certificate?.status ?? ""));
}

/** The newest failed deployments of the last `days` days, at most `limit`. */
export function recentFailures<T extends { status?: string; created_at?: string }>(deployments: T[], now = Date.now(), days = 7, limit = 5): T[] {
  const since = now - days * 86_400_000;
  return deployments.filter((d) => d.status === "failed" && new Date(d.created_at ?? 0).getTime() >= since).slice(0, limit);
}
