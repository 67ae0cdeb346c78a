import { useQuery } from "@tanstack/react-query";
import { createFileRoute, Link } from "@tanstack/react-router";
import { EmptyState, ErrorAlert, Spinner, StatusBadge } from "@/components/common";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { duration, formatTime } from "@/lib/format";
import { deploymentsQuery } from "@/lib/queries";

export const Route = createFileRoute("/_auth/apps/$name/deployments/")({
  component: DeploymentsTab,
});

function DeploymentsTab() {
  const { name } = Route.useParams();
  const deployments = useQuery(deploymentsQuery(name));
  if (deployments.isPending) return <Spinner />;
  if (deployments.isError) return <ErrorAlert error={deployments.error} />;
  const list = deployments.data.deployments ?? [];
  if (!list.length) return <EmptyState>No deployments yet.</EmptyState>;
  return (
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
            <TR key={d.id}>
              <TD>
                <Link to="/apps/$name/deployments/$id" params={{ name, id: d.id ?? "" }} className="font-medium text-primary capitalize hover:underline">
                  {d.action || "deploy"}
                </Link>
                {d.reason && <div className="max-w-80 truncate text-xs text-muted-foreground" title={d.reason}>{d.reason}</div>}
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
  );
}
