import { useQuery } from "@tanstack/react-query";
import { createFileRoute, Link } from "@tanstack/react-router";
import { FileCode2, Plus } from "lucide-react";
import type { App } from "@/api/client";
import { explainError } from "@/api/errors";
import { EmptyState, ErrorAlert, PageHeader, Spinner, StatusBadge } from "@/components/common";
import { Button } from "@/components/ui/button";
import { UpdateBadge } from "@/components/UpdateBadge";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { autoRollbackNote, savedNotDeployed, statusWords } from "@/lib/appState";
import { useCan } from "@/lib/auth";
import { timeAgo } from "@/lib/format";
import { appsQuery } from "@/lib/queries";

export const Route = createFileRoute("/_auth/apps/")({
  component: AppsPage,
});

function ports(app: App): string[] {
  return [...new Set((app.services ?? []).flatMap((s) => s.ports ?? []))];
}

/** The same notes as the app's page, shortly: an automatic rollback, a saved version not deployed. */
function AppNotes({ app }: { app: App }) {
  const rollback = autoRollbackNote(app);
  const saved = savedNotDeployed(app);
  if (!rollback && !saved) return null;
  return (
    <div className="mt-1 grid max-w-64 gap-0.5 text-xs text-muted-foreground" data-testid={`app-notes-${app.name}`}>
      {rollback && (
        <span className="truncate" title={rollback}>
          rolled back automatically to v{app.last_version_deployment?.rollback_to}
        </span>
      )}
      {saved && <span>version {app.current_version} saved, not deployed</span>}
    </div>
  );
}

function AppsPage() {
  const apps = useQuery(appsQuery);
  const canDeploy = useCan("operator");
  const list = [...(apps.data?.apps ?? [])].sort((a, b) => (a.name ?? "").localeCompare(b.name ?? ""));
  return (
    <>
      <PageHeader
        title="Apps"
        description="Everything AppOS runs on this server, live."
        actions={
          canDeploy && (
            <>
              <Button asChild variant="outline">
                <Link to="/new-app">
                  <FileCode2 /> New app from compose
                </Link>
              </Button>
              <Button asChild>
                <Link to="/catalog">
                  <Plus /> New app
                </Link>
              </Button>
            </>
          )
        }
      />
      <ErrorAlert error={apps.error} className="mb-4" />
      {apps.isPending ? (
        <Spinner />
      ) : list.length === 0 ? (
        <EmptyState>
          No apps yet. <Link to="/catalog" className="text-primary underline">Browse the templates</Link> to deploy one
          {canDeploy && (
            <>
              , or <Link to="/new-app" className="text-primary underline">bring a compose file</Link>
            </>
          )}
          .
        </EmptyState>
      ) : (
        <div className="rounded-xl border bg-card shadow-xs">
          <Table>
            <THead>
              <TR>
                <TH>App</TH>
                <TH>Status</TH>
                <TH className="hidden sm:table-cell">Services</TH>
                <TH className="hidden md:table-cell">Ports</TH>
                <TH className="hidden md:table-cell">Version</TH>
                <TH className="hidden lg:table-cell">Updated</TH>
              </TR>
            </THead>
            <TBody>
              {list.map((app) => (
                <TR key={app.name}>
                  <TD>
                    <Link to="/apps/$name" params={{ name: app.name ?? "" }} className="font-medium text-primary hover:underline">
                      {app.name}
                    </Link>
                    {app.template && <div className="text-xs text-muted-foreground">{app.template}</div>}
                    {app.server && app.server !== "local" && (
                      <div className="text-xs text-muted-foreground" data-testid={`app-server-${app.name}`}>
                        on server {app.server}
                      </div>
                    )}
                    <UpdateBadge app={app} className="ml-2" />
                  </TD>
                  <TD>
                    <StatusBadge status={app.status} label={statusWords(app)} testId={`app-status-${app.name}`} />
                    {app.status_message && <div className="mt-1 max-w-64 truncate text-xs text-muted-foreground" title={app.status_message}>{explainError(app.status_message).summary}</div>}
                    <AppNotes app={app} />
                  </TD>
                  <TD className="hidden sm:table-cell">
                    <div className="flex flex-wrap gap-1">
                      {(app.services ?? []).map((s) => (
                        <span key={s.container || s.service} className="rounded bg-muted px-1.5 py-0.5 font-mono text-xs" title={`${s.state}${s.health ? ` (${s.health})` : ""}`}>
                          {s.service}
                        </span>
                      ))}
                    </div>
                  </TD>
                  <TD className="hidden font-mono text-xs md:table-cell">{ports(app).join(", ") || "—"}</TD>
                  <TD className="hidden md:table-cell">v{app.current_version}</TD>
                  <TD className="hidden text-muted-foreground lg:table-cell">{timeAgo(app.updated_at)}</TD>
                </TR>
              ))}
            </TBody>
          </Table>
        </div>
      )}
    </>
  );
}
