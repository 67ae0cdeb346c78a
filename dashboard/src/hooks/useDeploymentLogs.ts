import { useEffect, useRef, useState } from "react";
import { api, unwrap } from "@/api/client";
import { useEvents } from "@/lib/events";

export interface DeploymentLine {
  seq: number;
  line: string;
}

/** A deployment's log lines, live: the stored lines first, then each `deployment_log` event as it
 * comes, with a poll every two seconds while the deployment runs (so a dropped event stream loses
 * nothing). Lines are kept in seq order without repeats. */
export function useDeploymentLogs(id: string, active: boolean) {
  const [lines, setLines] = useState<DeploymentLine[]>([]);
  const [error, setError] = useState<unknown>(null);
  const last = useRef(0);

  const add = (fresh: DeploymentLine[]) => {
    const next = fresh.filter((l) => l.seq > last.current).sort((a, b) => a.seq - b.seq);
    if (!next.length) return;
    last.current = next[next.length - 1].seq;
    setLines((old) => [...old, ...next]);
  };

  useEffect(() => {
    last.current = 0;
    setLines([]);
  }, [id]);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const reply = await unwrap(api.GET("/api/v1/deployments/{id}/logs", { params: { path: { id }, query: { after: last.current } } }));
        if (stopped) return;
        setError(null);
        add((reply.lines ?? []).map((l) => ({ seq: Number(l.seq ?? 0), line: l.line ?? "" })));
      } catch (err) {
        if (!stopped) setError(err);
      }
      if (!stopped && active) timer = setTimeout(poll, 2000);
    };
    poll();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [id, active]);

  useEvents((event) => {
    if (event.type !== "deployment_log" || event.subject !== id) return;
    const seq = Number(event.payload.seq ?? 0);
    const line = String(event.payload.line ?? "");
    // A gap means an event was missed: the next poll fills it in order.
    if (seq === last.current + 1) add([{ seq, line }]);
  });

  return { lines, error };
}
