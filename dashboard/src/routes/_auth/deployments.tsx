import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { createFileRoute, Link } from "@tanstack/react-router";
import { useState } from "react";
import { api, unwrap } from "@/api/client";
import { EmptyState, ErrorAlert, LoadMore, PageHeader, Spinner, StatusBadge } from "@/components/common";
import { NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { deploymentLabel } from "@/lib/appState";
import { duration, formatTime } from "@/lib/format";
import { appsQuery } from "@/lib/queries";

export const Route = createFileRoute("/_auth/deployments")({
  component: DeploymentsPage,
});

const PAGE = 50;
const STATUSES = ["pending", "running", "succeeded", "failed", "cancelled"];

/** Every app's deployments, newest first (`GET /api/v1/deployments`), a page at a time. */
function DeploymentsPage() {
  const [app, setApp] = useState("");
  const [status, setStatus] = useState("");
  const apps = useQuery(appsQuery);
  // ["deployments", …]: live events refresh it; "_all" is no app name (names are DNS labels)
  const pages = useInfiniteQuery({
    queryKey: ["deployments", "_all", app],
    queryFn: ({ pageParam }) =>
      unwrap(api.GET("/api/v1/deployments", { params: { query: { page_size: PAGE, ...(app ? { app } : {}), ...(pageParam ? { page_token: pageParam } : {}) } } })),
    initialPageParam: "",
    getNextPageParam: (last) => last.next_page_token || undefined,
  });
  const all = (pages.data?.pages ?? []).flatMap((p) => p.deployments ?? []);
  const list = status ? all.filter((d) => d.status === status) : all;
  const names = (apps.data?.apps ?? []).map((a) => a.name ?? "").filter(Boolean);
  // a removed app's deployments stay in the history; its pages are gone
  const gone = (name: string | undefined) => apps.isSuccess && !names.includes(name ?? "");

  return (
    <>
      <PageHeader title="Deployments" description="Every deploy, start, stop, restart, rollback and removal, of every app, newest first." />
      <div className="mb-4 flex flex-wrap items-end gap-4">
        <div className="grid gap-1.5">
          <Label htmlFor="deployments-app">App</Label>
          <NativeSelect id="deployments-app" className="w-48" value={app} onChange={(e) => setApp(e.target.value)}>
            <option value="">All apps</option>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </NativeSelect>
        </div>
        <div className="grid gap-1.5">
          <Label htmlFor="deployments-status">Status</Label>
          <NativeSelect id="deployments-status" className="w-40" value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">Any status</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </NativeSelect>
        </div>
        {pages.isFetching && !pages.isPending && <Spinner label="Refreshing…" className="h-9" />}
      </div>
      <ErrorAlert error={pages.error} className="mb-4" />
      {pages.isPending ? (
        <Spinner />
      ) : list.length === 0 ? (
        !pages.isError && <EmptyState>{status || app ? "No deployments match." : "No deployments yet."}</EmptyState>
      ) : (
        <div className="rounded-xl border bg-card shadow-xs">
          <Table>
            <THead>
              <TR>
                <TH>App</TH>
                <TH>Action</TH>
                <TH>Status</TH>
                <TH className="hidden sm:table-cell">Version</TH>
                <TH className="hidden md:table-cell">By</TH>
                <TH className="hidden sm:table-cell">Started</TH>
                <TH className="hidden lg:table-cell">Took</TH>
              </TR>
            </THead>
            <TBody>
              {list.map((d) => (
                <TR key={d.id} data-testid={`deployment-${d.id}`}>
                  <TD className="font-medium">
                    {gone(d.app) ? (
                      <span title="This app has been removed">
                        {d.app} <span className="text-xs font-normal text-muted-foreground">(removed)</span>
                      </span>
                    ) : (
                      <Link to="/apps/$name" params={{ name: d.app ?? "" }} className="hover:underline">
                        {d.app}
                      </Link>
                    )}
                  </TD>
                  <TD>
                    {gone(d.app) ? (
                      <span className="font-medium">{deploymentLabel(d)}</span>
                    ) : (
                      <Link to="/apps/$name/deployments/$id" params={{ name: d.app ?? "", id: d.id ?? "" }} className="font-medium text-primary hover:underline">
                        {deploymentLabel(d)}
                      </Link>
                    )}
                    {d.reason && (
                      <div className="max-w-40 truncate text-xs text-muted-foreground sm:max-w-80" title={d.reason}>
                        {d.reason}
                      </div>
                    )}
                    <div className="text-xs text-muted-foreground sm:hidden">{formatTime(d.created_at)}</div>
                  </TD>
                  <TD>
                    <StatusBadge status={d.status} />
                  </TD>
                  <TD className="hidden sm:table-cell">v{d.version}</TD>
                  <TD className="hidden md:table-cell">{d.actor}</TD>
                  <TD className="hidden whitespace-nowrap sm:table-cell">{formatTime(d.created_at)}</TD>
                  <TD className="hidden lg:table-cell">{d.started_at ? duration(d.started_at, d.finished_at) : "—"}</TD>
                </TR>
              ))}
            </TBody>
          </Table>
        </div>
      )}
      <LoadMore query={pages} />
    </>
  );
}
