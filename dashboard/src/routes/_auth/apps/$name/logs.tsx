import { useQuery } from "@tanstack/react-query";
import { createFileRoute } from "@tanstack/react-router";
import { Download, Loader2 } from "lucide-react";
import { useEffect, useState } from "react";
import { apiFetch } from "@/api/client";
import { ApiError } from "@/api/errors";
import { ErrorAlert } from "@/components/common";
import { LogView, type LogLine } from "@/components/LogView";
import { Button } from "@/components/ui/button";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { download, logText, searchLines } from "@/lib/logs";
import { appQuery } from "@/lib/queries";

export const Route = createFileRoute("/_auth/apps/$name/logs")({
  component: LogsTab,
});

const MAX_LINES = 5000;

interface Line {
  service?: string;
  line?: string;
  time?: string;
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
  // the stream is open (the server answered): a silent container is then "no output yet", not a spinner
  const [connected, setConnected] = useState(false);
  const [loading, setLoading] = useState(false);
  const [showTime, setShowTime] = useState(false);
  const [wrap, setWrap] = useState(true);
  const [search, setSearch] = useState("");
  const shown = searchLines(lines, search);

  useEffect(() => {
    const abort = new AbortController();
    let counter = 0;
    const toLine = (l: Line): LogLine => ({ key: counter++, text: l.line ?? "", time: l.time, service: services.length > 1 && !service ? l.service : undefined });
    setLines([]);
    setError(null);
    const query = new URLSearchParams({ tail: String(tail), follow: String(follow) });
    if (service) query.set("service", service);
    // following: "waiting" from the request until the stream ends (the first lines may be minutes away)
    setStreaming(follow);
    setConnected(false);
    setLoading(!follow);
    (async () => {
      try {
        const response = await apiFetch(`/api/v1/apps/${encodeURIComponent(name)}/logs?${query}`, { signal: abort.signal });
        setConnected(true);
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
        <label className="flex h-9 items-center gap-2 text-sm">
          <input type="checkbox" checked={showTime} onChange={(e) => setShowTime(e.target.checked)} className="size-4" />
          Timestamps
        </label>
        <label className="flex h-9 items-center gap-2 text-sm">
          <input type="checkbox" checked={wrap} onChange={(e) => setWrap(e.target.checked)} className="size-4" />
          Wrap lines
        </label>
        <div className="grid gap-1.5">
          <Label htmlFor="log-search">Search</Label>
          <Input id="log-search" type="search" placeholder="text in a line" value={search} onChange={(e) => setSearch(e.target.value)} className="w-48" />
        </div>
        <Button
          variant="outline"
          size="sm"
          className="h-9"
          disabled={shown.length === 0}
          onClick={() => download(`${name}${service ? `-${service}` : ""}-logs.txt`, logText(shown, { services: !service }))}
        >
          <Download />
          Download
        </Button>
        <span className="ml-auto flex h-9 items-center text-xs text-muted-foreground" data-testid="log-count">
          {search.trim() ? `${shown.length} of ${lines.length} lines` : streaming ? "following live" : `${lines.length} lines`}
        </span>
      </div>
      <ErrorAlert error={error} />
      <LogView
        lines={shown}
        testId="log-view"
        wrap={wrap}
        showTime={showTime}
        services={services}
        highlight={search}
        empty={
          lines.length > 0 ? (
            "No line matches the search."
          ) : streaming && !connected ? (
            <span className="inline-flex items-center gap-2" role="status" data-testid="log-waiting">
              <Loader2 className="size-3.5 animate-spin" aria-hidden />
              Connecting…
            </span>
          ) : streaming ? (
            <span role="status" data-testid="log-silent">
              No output yet: the container has written nothing. New lines appear here as it writes them.
            </span>
          ) : loading ? (
            "Loading…"
          ) : (
            <span data-testid="log-silent">No output yet: the container has written nothing.</span>
          )
        }
      />
    </div>
  );
}
