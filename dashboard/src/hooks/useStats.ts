import { useEffect, useState } from "react";
import { api } from "@/api/client";
import type { StatsPoint } from "@/components/StatsChart";
import { FEATURES } from "@/lib/features";

export const STATS_WINDOW_MS = 5 * 60_000;
const EVERY_MS = 3_000;

export type StatsState = { available: boolean | null; points: StatsPoint[]; perService: Record<string, { cpu: number; memory: number }> };

/** Polls `GET /api/v1/apps/{app}/stats` every few seconds and keeps the last minutes (summed over
 * the app's containers). `available` is false when the gateway has no such route (404). */
export function useStats(app: string): StatsState {
  const [state, setState] = useState<StatsState>({ available: FEATURES.stats ? null : false, points: [], perService: {} });

  useEffect(() => {
    if (!FEATURES.stats) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const { data, response } = await api.GET("/api/v1/apps/{app}/stats", { params: { path: { app } } });
        if (stopped) return;
        if (response.status === 404 && !data) {
          // No such route on this gateway (or no such app): say "no stats" and stop asking.
          setState((s) => ({ ...s, available: false }));
          return;
        }
        if (data) {
          const perService: StatsState["perService"] = {};
          let cpu = 0;
          let memory = 0;
          for (const c of data.containers ?? []) {
            const m = Number(c.memory_bytes ?? 0);
            cpu += c.cpu_percent ?? 0;
            memory += m;
            const key = c.service ?? c.container ?? "?";
            perService[key] = { cpu: (perService[key]?.cpu ?? 0) + (c.cpu_percent ?? 0), memory: (perService[key]?.memory ?? 0) + m };
          }
          const t = Date.now();
          setState((s) => ({ available: true, perService, points: [...s.points.filter((p) => p.t > t - STATS_WINDOW_MS), { t, cpu, memory }] }));
        }
      } catch {
        /* a dropped connection: try again on the next tick */
      }
      // polled: container CPU and memory are sampled from Docker; no event carries them
      if (!stopped) timer = setTimeout(tick, EVERY_MS);
    };
    tick();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [app]);

  return state;
}
