import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createFileRoute, Link, useNavigate } from "@tanstack/react-router";
import { ExternalLink, Play, RefreshCw, RotateCw, Square, Trash2 } from "lucide-react";
import { useState, type ReactNode } from "react";
import { api, unwrap, type Deployment } from "@/api/client";
import { AppOptionsCard } from "@/components/AppOptions";
import { AppState } from "@/components/AppState";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState, StatusBadge } from "@/components/common";
import { StatsChart } from "@/components/StatsChart";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { useServerHost } from "@/hooks/useServerHost";
import { STATS_WINDOW_MS, useStats } from "@/hooks/useStats";
import { portUrl } from "@/lib/apps";
import { actionState, deploymentLabel, failure, type AppAction } from "@/lib/appState";
import { useCan } from "@/lib/auth";
import { formatBytes, formatTime } from "@/lib/format";
import { appQuery, domainsQuery } from "@/lib/queries";

export const Route = createFileRoute("/_auth/apps/$name/")({
  component: Overview,
});

type Action = AppAction;

const ACTIONS: { action: Action; label: string; icon: ReactNode; what: string }[] = [
  { action: "start", label: "Start", icon: <Play />, what: "Start the app's stopped containers." },
  { action: "stop", label: "Stop", icon: <Square />, what: "Stop every container of the app. Its data stays." },
  { action: "restart", label: "Restart", icon: <RotateCw />, what: "Restart every container of the app." },
  { action: "redeploy", label: "Redeploy", icon: <RefreshCw />, what: "Apply the current version again (pulls nothing new unless the compose file asks)." },
];

function Overview() {
  const { name } = Route.useParams();
  const app = useQuery(appQuery(name)).data!;
  const canAct = useCan("operator");
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [last, setLast] = useState<Deployment | null>(null);
  const [removeVolumes, setRemoveVolumes] = useState(false);
  const domains = useQuery(domainsQuery);
  const stats = useStats(name);
  const host = useServerHost(app.server);
  const appDomains = (domains.data?.domains ?? []).filter((d) => d.app === name);
  const why = actionState(app);

  const act = async (action: Action) => {
    const path = `/api/v1/apps/{app}/${action}` as "/api/v1/apps/{app}/start";
    const reply = await unwrap(api.POST(path, { params: { path: { app: name } }, body: {} }));
    setLast(reply.deployment ?? null);
    queryClient.invalidateQueries({ queryKey: ["app", name] });
  };

  const remove = async () => {
    await unwrap(api.DELETE("/api/v1/apps/{app}", { params: { path: { app: name }, query: { remove_volumes: removeVolumes } } }));
    queryClient.invalidateQueries({ queryKey: ["apps"] });
    await navigate({ to: "/apps" });
  };

  return (
    <div className="grid gap-6">
      {canAct && (
        <div className="flex flex-wrap gap-2">
          {ACTIONS.map(({ action, label, icon, what }) => (
            <ConfirmDialog
              key={action}
              trigger={
                <Button variant="outline" disabled={why[action] !== null} title={why[action] ? `${label} cannot work now: ${why[action]}` : undefined}>
                  {icon}
                  {label}
                </Button>
              }
              title={`${label} ${name}?`}
              description={what}
              onConfirm={() => act(action)}
            />
          ))}
          <ConfirmDialog
            trigger={
              <Button variant="outline" className="text-destructive hover:text-destructive">
                <Trash2 />
                Remove
              </Button>
            }
            title={`Remove ${name}?`}
            description="Its containers and files go away; the version history goes with it."
            confirmVariant="destructive"
            onConfirm={remove}
          >
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" checked={removeVolumes} onChange={(e) => setRemoveVolumes(e.target.checked)} className="size-4" />
              Also delete its volumes (the app's data)
            </label>
          </ConfirmDialog>
        </div>
      )}
      <AppState app={app} canAct={canAct} />
      {last && <LastAction deployment={last} app={name} />}

      <div className="grid gap-6 lg:grid-cols-3">
        <Card className="lg:col-span-2">
          <CardHeader>
            <CardTitle>Containers</CardTitle>
          </CardHeader>
          <CardContent className="px-2 sm:px-5">
            {/* a failure's reason is in the card above (AppState): not said twice */}
            {app.status_message && !failure(app) && <p className="mb-3 px-3 text-sm text-muted-foreground sm:px-0">{app.status_message}</p>}
            {(app.services ?? []).length === 0 ? (
              <EmptyState>No containers.</EmptyState>
            ) : (
              <Table>
                <THead>
                  <TR>
                    <TH>Service</TH>
                    <TH>State</TH>
                    <TH>Ports</TH>
                    <TH className="hidden sm:table-cell">CPU / memory</TH>
                  </TR>
                </THead>
                <TBody>
                  {(app.services ?? []).map((s) => {
                    const usage = stats.perService[s.service ?? ""];
                    return (
                      <TR key={s.container || s.service}>
                        <TD>
                          <div className="font-medium">{s.service}</div>
                          <div className="font-mono text-xs text-muted-foreground">{s.container}</div>
                        </TD>
                        <TD>
                          <StatusBadge status={s.health || s.state} />
                          {s.state === "exited" && s.exit_code ? <div className="text-xs text-muted-foreground">exit code {s.exit_code}</div> : null}
                        </TD>
                        <TD className="font-mono text-xs">
                          <PublishedPorts ports={s.ports ?? []} host={host} />
                        </TD>
                        <TD className="hidden font-mono text-xs sm:table-cell">{usage ? `${usage.cpu.toFixed(1)} % · ${formatBytes(usage.memory)}` : "—"}</TD>
                      </TR>
                    );
                  })}
                </TBody>
              </Table>
            )}
          </CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>Details</CardTitle>
          </CardHeader>
          <CardContent>
            <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-2 text-sm">
              <dt className="text-muted-foreground">Version</dt>
              <dd>
                v{app.current_version}
                {app.last_good_version && app.last_good_version !== app.current_version ? (
                  <span className="text-muted-foreground"> (last working version: {app.last_good_version})</span>
                ) : null}
              </dd>
              <dt className="text-muted-foreground">Template</dt>
              <dd>{app.template || "raw compose"}</dd>
              <dt className="text-muted-foreground">Created</dt>
              <dd>{formatTime(app.created_at)}</dd>
              <dt className="text-muted-foreground">Updated</dt>
              <dd>{formatTime(app.updated_at)}</dd>
            </dl>
            <h4 className="mt-5 mb-2 text-sm font-medium">Domains</h4>
            {appDomains.length === 0 ? (
              <p className="text-sm text-muted-foreground">
                None. <Link to="/domains" className="text-primary hover:underline">Add a domain</Link>
              </p>
            ) : (
              <ul className="grid gap-1.5 text-sm">
                {appDomains.map((d) => (
                  <li key={d.domain} className="flex flex-wrap items-center gap-2">
                    <a className="inline-flex items-center gap-1 text-primary hover:underline" href={`${d.https ? "https" : "http"}://${d.domain}/`} target="_blank" rel="noreferrer" aria-label={`Open ${d.domain}`}>
                      {d.domain} <ExternalLink className="size-3.5" />
                    </a>
                    {d.https && <StatusBadge status={d.certificate?.status || "pending"} />}
                  </li>
                ))}
              </ul>
            )}
          </CardContent>
        </Card>
      </div>

      <AppOptionsCard app={app} />

      <Card>
        <CardHeader>
          <CardTitle>Usage, last 5 minutes</CardTitle>
        </CardHeader>
        <CardContent>
          {stats.available === false ? (
            <p className="text-sm text-muted-foreground">No stats for this app.</p>
          ) : (
            <StatsChart points={stats.points} windowMs={STATS_WINDOW_MS} />
          )}
        </CardContent>
      </Card>
    </div>
  );
}

function LastAction({ deployment, app }: { deployment: Deployment; app: string }) {
  const live = useQuery({
    queryKey: ["deployment", deployment.id],
    queryFn: () => unwrap(api.GET("/api/v1/deployments/{id}", { params: { path: { id: deployment.id ?? "" } } })),
    initialData: deployment,
  });
  const d = live.data;
  return (
    <div className="flex flex-wrap items-center gap-3 rounded-lg border bg-card px-4 py-3 text-sm" role="status">
      <span>{deploymentLabel(d)}</span>
      <StatusBadge status={d.status} />
      {d.reason && <span className="text-muted-foreground">{d.reason}</span>}
      <Link to="/apps/$name/deployments/$id" params={{ name: app, id: d.id ?? "" }} className="ml-auto text-primary hover:underline">
        View log
      </Link>
    </div>
  );
}

/** A container's ports; each one published on the host over TCP is a link that opens it. */
function PublishedPorts({ ports, host }: { ports: string[]; host: string | null }) {
  if (ports.length === 0) return <>—</>;
  return (
    <ul className="grid gap-1">
      {ports.map((port) => {
        const url = host ? portUrl(port, { hostname: host }) : null;
        return (
          <li key={port} className="flex flex-wrap items-center gap-2">
            <span>{port}</span>
            {url && (
              <a href={url} target="_blank" rel="noreferrer" className="inline-flex items-center gap-1 font-sans text-primary hover:underline" aria-label={`Open port ${new URL(url).port}`}>
                Open <ExternalLink className="size-3" />
              </a>
            )}
          </li>
        );
      })}
    </ul>
  );
}
