import { useInfiniteQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { EmptyState, ErrorAlert, LoadMore, Spinner, StatusBadge } from "@/components/common";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { deploymentLabel, plainMessage } from "@/lib/appState";
import { duration, formatTime } from "@/lib/format";
import { deploymentsQuery } from "@/lib/queries";

/** One app's deployments, newest first, with "Load more" while the server has older ones. */
export function AppDeployments({ name }: { name: string }) {
  const deployments = useInfiniteQuery(deploymentsQuery(name));
  if (deployments.isPending) return <Spinner />;
  // a failed "Load more" keeps the pages already shown
  if (!deployments.data) return <ErrorAlert error={deployments.error} />;
  const list = deployments.data.pages.flatMap((p) => p.deployments ?? []);
  if (!list.length) return <EmptyState>No deployments yet.</EmptyState>;
  return (
    <>
      <div className="rounded-xl border bg-card shadow-xs">
        <Table>
          <THead>
            <TR>
              <TH>Action</TH>
              <TH>Status</TH>
              <TH className="hidden sm:table-cell">Version</TH>
              <TH className="hidden md:table-cell">By</TH>
              <TH>Started</TH>
              <TH className="hidden md:table-cell">Took</TH>
            </TR>
          </THead>
          <TBody>
            {list.map((d) => (
              <TR key={d.id} data-testid={`deployment-${d.id}`}>
                <TD>
                  <Link to="/apps/$name/deployments/$id" params={{ name, id: d.id ?? "" }} className="font-medium text-primary hover:underline">
                    {deploymentLabel(d)}
                  </Link>
                  {d.reason && <div className="max-w-80 truncate text-xs text-muted-foreground" title={plainMessage(d.reason)}>{plainMessage(d.reason)}</div>}
                </TD>
                <TD>
                  <StatusBadge status={d.status} />
                </TD>
                <TD className="hidden sm:table-cell">v{d.version}</TD>
                <TD className="hidden md:table-cell">{d.actor}</TD>
                <TD className="whitespace-nowrap">{formatTime(d.created_at)}</TD>
                <TD className="hidden md:table-cell">{d.started_at ? duration(d.started_at, d.finished_at) : "—"}</TD>
              </TR>
            ))}
          </TBody>
        </Table>
      </div>
      <ErrorAlert error={deployments.error} className="mt-4" />
      <LoadMore query={deployments} />
    </>
  );
}
