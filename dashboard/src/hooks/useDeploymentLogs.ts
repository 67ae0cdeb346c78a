import { useEffect, useRef, useState } from "react";
import { api, unwrap } from "@/api/client";
import { useEvents, useEventsStarts } from "@/lib/events";

export interface DeploymentLine {
  seq: number;
  line: string;
}

/** What one reply of `…/logs?after=` holds at most (`services/state/deployments.py`). */
const LINES_PER_REPLY = 10_000;

/** Puts `fresh` among `old` in seq order, without repeats (`old` itself when nothing is new). */
export function mergeLines(old: DeploymentLine[], fresh: DeploymentLine[]): DeploymentLine[] {
  const last = old.length ? old[old.length - 1].seq : 0;
  if (fresh.length === 1 && fresh[0].seq > last) return [...old, fresh[0]]; // a live line, the usual case
  const known = new Set(old.map((l) => l.seq));
  const added: DeploymentLine[] = [];
  for (const line of fresh) {
    if (known.has(line.seq)) continue;
    known.add(line.seq);
    added.push(line);
  }
  return added.length ? [...old, ...added].sort((a, b) => a.seq - b.seq) : old;
}

/** A deployment's log lines, live: the stored lines, then each `deployment_log` event as it comes.
 * Lines' seqs are shared by all deployments, so a gap says nothing; the stored lines are read again
 * when the event stream (re)starts (it may have missed some) and when the deployment ends. */
export function useDeploymentLogs(id: string, active: boolean) {
  const [lines, setLines] = useState<DeploymentLine[]>([]);
  const [error, setError] = useState<unknown>(null);
  const read = useRef(0); // every stored line up to this seq has been read
  const starts = useEventsStarts();

  useEffect(() => {
    read.current = 0;
    setLines([]);
  }, [id]);

  useEffect(() => {
    let stopped = false;
    const load = async () => {
      try {
        for (;;) {
          const reply = await unwrap(api.GET("/api/v1/deployments/{id}/logs", { params: { path: { id }, query: { after: read.current } } }));
          if (stopped) return;
          const fresh = (reply.lines ?? []).map((l) => ({ seq: Number(l.seq ?? 0), line: l.line ?? "" }));
          setError(null);
          setLines((old) => mergeLines(old, fresh));
          if (fresh.length) read.current = Math.max(read.current, ...fresh.map((l) => l.seq));
          if (fresh.length < LINES_PER_REPLY) return;
        }
      } catch (err) {
        if (!stopped) setError(err);
      }
    };
    load();
    return () => {
      stopped = true;
    };
  }, [id, active, starts]);

  useEvents((event) => {
    if (event.type !== "deployment_log" || event.subject !== id) return;
    setLines((old) => mergeLines(old, [{ seq: Number(event.payload.seq ?? 0), line: String(event.payload.line ?? "") }]));
  });

  return { lines, error };
}
