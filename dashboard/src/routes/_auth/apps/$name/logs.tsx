import { useQuery } from "@tanstack/react-query";
import { createFileRoute } from "@tanstack/react-router";
import { Loader2 } from "lucide-react";
import { useEffect, useState } from "react";
import { apiFetch } from "@/api/client";
import { ApiError } from "@/api/errors";
import { ErrorAlert } from "@/components/common";
import { LogView, type LogLine } from "@/components/LogView";
import { NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { appQuery } from "@/lib/queries";

export const Route = createFileRoute("/_auth/apps/$name/logs")({
  component: LogsTab,
});

const MAX_LINES = 5000;

interface Line {
  service?: string;
  line?: string;
  // the stream's last object when the access that opened it ended (a sign-out, a revoked token…)
  code?: string;
  message?: string;
  request_id?: string;
}

function LogsTab() {
  const { name } = Route.useParams();
  const app = useQuery(appQuery(name)).data!;
  const services = [...new Set((app.services ?? []).map((s) => s.service ?? ""))].filter(Boolean);
  const [service, setService] = useState("");
  const [follow, setFollow] = useState(true);
  const [tail, setTail] = useState(200);
  const [lines, setLines] = useState<LogLine[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [streaming, setStreaming] = useState(false);
  const [loading, setLoading] = useState(false);

  useEffect(() => {
    const abort = new AbortController();
    let counter = 0;
    const toLine = (l: Line): LogLine => ({ key: counter++, text: l.line ?? "", prefix: services.length > 1 && !service ? l.service : undefined });
    setLines([]);
    setError(null);
    const query = new URLSearchParams({ tail: String(tail), follow: String(follow) });
    if (service) query.set("service", service);
    // following: "waiting" from the request until the stream ends (the first lines may be minutes away)
    setStreaming(follow);
    setLoading(!follow);
    (async () => {
      try {
        const response = await apiFetch(`/api/v1/apps/${encodeURIComponent(name)}/logs?${query}`, { signal: abort.signal });
        if (!follow) {
          const body = (await response.json()) as { lines?: Line[] };
          setLines((body.lines ?? []).map(toLine));
          return;
        }
        const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          const parts = buffer.split("\n");
          buffer = parts.pop() ?? "";
          const fresh: LogLine[] = [];
          for (const part of parts) {
            if (!part.trim()) continue;
            try {
              const item = JSON.parse(part) as Line;
              if (item.line === undefined && item.code && item.message) {
                const status = item.code === "unauthenticated" ? 401 : 403;
                setError(new ApiError(status, item.code, item.message, item.request_id ?? ""));
                continue;
              }
              fresh.push(toLine(item));
            } catch {
              fresh.push({ key: counter++, text: part });
            }
          }
          if (fresh.length) setLines((old) => [...old, ...fresh].slice(-MAX_LINES));
        }
      } catch (err) {
        if (!abort.signal.aborted) setError(err);
      } finally {
        if (!abort.signal.aborted) {
          setStreaming(false);
          setLoading(false);
        }
      }
    })();
    return () => abort.abort();
    // services only changes the prefix; a new stream is not needed for it
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [name, service, follow, tail]);

  return (
    <div className="grid gap-3">
      <div className="flex flex-wrap items-end gap-4">
        <div className="grid gap-1.5">
          <Label htmlFor="log-service">Service</Label>
          <NativeSelect id="log-service" value={service} onChange={(e) => setService(e.target.value)} className="w-48">
            <option value="">All services</option>
            {services.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </NativeSelect>
        </div>
        <div className="grid gap-1.5">
          <Label htmlFor="log-tail">Last lines</Label>
          <NativeSelect id="log-tail" value={tail} onChange={(e) => setTail(Number(e.target.value))} className="w-28">
            {[50, 200, 1000, 5000].map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </NativeSelect>
        </div>
        <label className="flex h-9 items-center gap-2 text-sm">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} className="size-4" />
          Follow
        </label>
        <span className="ml-auto flex h-9 items-center text-xs text-muted-foreground">{streaming ? "following live" : `${lines.length} lines`}</span>
      </div>
      <ErrorAlert error={error} />
      <LogView
        lines={lines}
        testId="log-view"
        empty={
          streaming ? (
            <span className="inline-flex items-center gap-2" role="status" data-testid="log-waiting">
              <Loader2 className="size-3.5 animate-spin" aria-hidden />
              Waiting for log lines…
            </span>
          ) : loading ? (
            "Loading…"
          ) : (
            "No log lines (yet)."
          )
        }
      />
    </div>
  );
}
