import { useQuery } from "@tanstack/react-query";
import { createFileRoute } from "@tanstack/react-router";
import { RefreshCw } from "lucide-react";
import { useState } from "react";
import { api, unwrap } from "@/api/client";
import { ErrorAlert, PageHeader, Spinner, StatusBadge } from "@/components/common";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { useEvents } from "@/lib/events";
import { formatTime } from "@/lib/format";
import { fetchHealth, sortParts, uptime } from "@/lib/system";

export const Route = createFileRoute("/_auth/system")({
  component: SystemPage,
});

const PART_WORDS: Record<string, string> = {
  state: "database and event log",
  deployer: "deployments and catalog",
  worker: "task worker (Celery)",
  proxyctl: "domains and certificates",
  terminal: "terminal sessions",
  caddy: "reverse proxy",
  redis: "task queue and limits",
  docker: "container engine",
};

function SystemPage() {
  // polled: a part going down or coming back writes no event (health is probed, not recorded)
  const health = useQuery({ queryKey: ["health"], queryFn: () => fetchHealth(), refetchInterval: 10_000 });
  // not polled: the event count follows the stream below; the rest changes when the gateway restarts,
  // which restarts the stream (and that refetches it: `liveQueries.ts`)
  const info = useQuery({ queryKey: ["system-info"], queryFn: () => unwrap(api.GET("/api/v1/system/info")) });
  const [newestSeq, setNewestSeq] = useState(0);
  useEvents((event) => setNewestSeq((seq) => Math.max(seq, event.seq)));
  const refreshing = health.isFetching || info.isFetching;
  const parts = sortParts(health.data?.parts ?? []);
  const overall = health.data?.status;

  return (
    <>
      <PageHeader
        title="System"
        description="How each part of AppOS is doing, and what runs here."
        actions={
          <Button
            variant="outline"
            onClick={() => {
              health.refetch();
              info.refetch();
            }}
            disabled={refreshing}
          >
            <RefreshCw className={refreshing ? "animate-spin" : undefined} />
            {refreshing ? "Checking…" : "Check now"}
          </Button>
        }
      />
      <div className="grid gap-6 lg:grid-cols-[1.4fr_1fr]">
        <Card>
          <CardHeader>
            <CardTitle className="flex items-center gap-3">
              Health {overall && <StatusBadge status={overall} testId="health-status" />}
            </CardTitle>
            <CardDescription>Each part of AppOS, checked every 10 seconds.</CardDescription>
          </CardHeader>
          <CardContent className="px-2 sm:px-5">
            <ErrorAlert error={health.error} className="mb-3" />
            {health.isPending ? (
              <Spinner />
            ) : (
              <Table>
                <THead>
                  <TR>
                    <TH>Part</TH>
                    <TH>Status</TH>
                    <TH className="hidden sm:table-cell">Message</TH>
                  </TR>
                </THead>
                <TBody>
                  {parts.map((p) => (
                    <TR key={p.name} data-testid={`health-${p.name}`}>
                      <TD>
                        <div className="font-medium">{p.name}</div>
                        <div className="text-xs text-muted-foreground">{PART_WORDS[p.name ?? ""] ?? ""}</div>
                        {p.message && <div className="text-xs break-words text-destructive sm:hidden">{p.message}</div>}
                      </TD>
                      <TD>
                        <StatusBadge status={p.status} />
                      </TD>
                      <TD className="hidden text-sm break-words text-muted-foreground sm:table-cell">{p.message || "—"}</TD>
                    </TR>
                  ))}
                </TBody>
              </Table>
            )}
          </CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>This install</CardTitle>
            <CardDescription>From /api/v1/system/info.</CardDescription>
          </CardHeader>
          <CardContent>
            <ErrorAlert error={info.error} className="mb-3" />
            {info.isPending ? (
              <Spinner />
            ) : info.data ? (
              <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-2 text-sm">
                <dt className="text-muted-foreground">AppOS version</dt>
                <dd data-testid="system-version">{info.data.version || "—"}</dd>
                <dt className="text-muted-foreground">Host name</dt>
                <dd className="break-all">{info.data.hostname || "—"}</dd>
                <dt className="text-muted-foreground">Docker engine</dt>
                <dd>{info.data.docker_version || "—"}</dd>
                <dt className="text-muted-foreground">Python</dt>
                <dd>{info.data.python || "—"}</dd>
                <dt className="text-muted-foreground">Started</dt>
                <dd>
                  {formatTime(info.data.started_at)}
                  {info.data.started_at && <span className="text-muted-foreground"> (up {uptime(info.data.started_at)})</span>}
                </dd>
                <dt className="text-muted-foreground">Events so far</dt>
                <dd>{String(Math.max(Number(info.data.last_event_seq ?? 0), newestSeq))}</dd>
              </dl>
            ) : null}
          </CardContent>
        </Card>
      </div>
    </>
  );
}
