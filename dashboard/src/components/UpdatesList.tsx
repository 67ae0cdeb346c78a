import { useMutation, useQueries, useQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { RefreshCw } from "lucide-react";
import { useState } from "react";
import { api, unwrap } from "@/api/client";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState, ErrorAlert, PageHeader, Spinner, StatusBadge, SuccessNote } from "@/components/common";
import { TemplateUpdate } from "@/components/TemplateUpdate";
import { UpdateDialog } from "@/components/UpdateDialog";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { plainMessage } from "@/lib/appState";
import { useCan } from "@/lib/auth";
import { formatTime, timeAgo } from "@/lib/format";
import { appsQuery } from "@/lib/queries";
import {
  groupByApp,
  hasDefaultUpdate,
  kindWords,
  lastChecked,
  shortDigest,
  splitRows,
  stillCurrent,
  summaryWords,
  unknownWords,
  updateAll,
  updatesQuery,
  type AppUpdates,
  type ImageUpdate,
  type UpdateOutcome,
} from "@/lib/updates";

const KIND_VARIANT: Record<string, "default" | "warning" | "muted" | "success"> = {
  digest: "default",
  patch: "success",
  minor: "default",
  major: "warning",
  unknown: "muted",
};

function Row({ row }: { row: ImageUpdate }) {
  const kind = row.kind ?? "unknown";
  return (
    <TR data-testid={`update-row-${row.app}-${row.service}-${kind}`}>
      <TD className="font-medium">{row.service}</TD>
      <TD className="font-mono text-xs whitespace-nowrap">{row.image}</TD>
      <TD className="text-sm whitespace-nowrap">
        <span className="font-mono">{row.current_tag || "—"}</span>
        {row.current_digest && <span className="ml-1 font-mono text-xs text-muted-foreground" title={row.current_digest}>{shortDigest(row.current_digest)}</span>}
        {kind !== "unknown" && (
          <>
            {" → "}
            <span className="font-mono">{row.candidate_tag || row.current_tag}</span>
            {row.candidate_digest && <span className="ml-1 font-mono text-xs text-muted-foreground" title={row.candidate_digest}>{shortDigest(row.candidate_digest)}</span>}
          </>
        )}
      </TD>
      <TD>
        <Badge variant={KIND_VARIANT[kind] ?? "muted"} data-testid="update-kind">{kind}</Badge>
        {kind === "major" && <div className="mt-1 text-xs text-[oklch(0.45_0.1_65)]">{kindWords("major")}</div>}
        {kind === "digest" && <div className="mt-1 text-xs text-muted-foreground">{kindWords("digest")}</div>}
        {kind === "unknown" && <div className="mt-1 max-w-72 text-xs text-muted-foreground" data-testid="update-reason">Could not check: {unknownWords(row)}</div>}
      </TD>
    </TR>
  );
}

/** One app's updates: its store template's change (no button: nothing applies it), then its
 * images' rows with Update for operators. */
function AppSection({ group, canUpdate }: { group: AppUpdates; canUpdate: boolean }) {
  const { images, templates } = splitRows(group.rows);
  return (
    <section className="rounded-xl border bg-card shadow-xs" data-testid={`updates-${group.app}`}>
      <div className="flex items-center justify-between gap-2 border-b px-4 py-3">
        <div>
          <Link to="/apps/$name" params={{ name: group.app }} className="font-medium text-primary hover:underline">
            {group.app}
          </Link>
          {/* a template row says when it was found itself */}
          {images.length > 0 && <span className="ml-2 text-xs text-muted-foreground">checked {timeAgo(lastChecked(images))}</span>}
        </div>
        {canUpdate && images.length > 0 && <UpdateDialog app={group.app} rows={images} />}
      </div>
      {templates.map((row, i) => (
        <TemplateUpdate key={`template-${i}`} row={row} />
      ))}
      {images.length > 0 && (
        <div className={templates.length ? "border-t" : undefined}>
          <Table>
            <THead>
              <TR>
                <TH>Service</TH>
                <TH>Image</TH>
                <TH>Running → newer</TH>
                <TH>Kind</TH>
              </TR>
            </THead>
            <TBody>
              {images.map((row, i) => (
                <Row key={`${row.service}-${row.kind}-${i}`} row={row} />
              ))}
            </TBody>
          </Table>
        </div>
      )}
    </section>
  );
}

/** Each requested update's deployment, live (its status comes from the events like every
 * deployment's): the summary names what failed and why, when it failed to start or later. */
export function UpdateAllSummary({ outcomes }: { outcomes: UpdateOutcome[] }) {
  const deployments = useQueries({
    queries: outcomes.map((o) => ({
      queryKey: ["deployment", o.deployment?.id ?? ""],
      queryFn: () => unwrap(api.GET("/api/v1/deployments/{id}", { params: { path: { id: o.deployment?.id ?? "" } } })),
      enabled: !!o.deployment?.id,
      initialData: o.deployment?.id ? o.deployment : undefined,
    })),
  });
  const finished = outcomes.map((o, i) => {
    const d = deployments[i]?.data ?? o.deployment;
    if (o.error || !d) return o;
    if (d.status === "failed" || d.status === "cancelled") return { ...o, error: plainMessage(d.reason) || `the update ${d.status}` };
    return { ...o, deployment: d };
  });
  const running = finished.filter((o) => !o.error && o.deployment?.status !== "succeeded").length;
  const failed = finished.filter((o) => o.error);
  return (
    <Alert variant={failed.length ? "destructive" : "info"} className="mb-4" data-testid="update-all-summary">
      <div className="min-w-0">
        <p className="font-medium" data-testid="update-all-words">{summaryWords(finished)}{running ? ` ${running} still running.` : ""}</p>
        <ul className="mt-2 grid gap-1 text-sm">
          {finished.map((o) => (
            <li key={o.app} data-testid={`update-all-${o.app}`}>
              <span className="font-medium">{o.app}</span>:{" "}
              {o.error ? (
                <>failed — {o.error}</>
              ) : (
                <>
                  <StatusBadge status={o.deployment?.status} />{" "}
                  {o.deployment?.id && (
                    <Link to="/apps/$name/deployments/$id" params={{ name: o.app, id: o.deployment.id }} className="text-primary underline">
                      follow it
                    </Link>
                  )}
                </>
              )}
            </li>
          ))}
        </ul>
        {failed.length > 0 && <p className="mt-2 text-xs">Open a failed app's deployments to see its log; the app keeps running its previous version.</p>}
      </div>
    </Alert>
  );
}

/** The Updates page: the last check's rows grouped by app (and each app's changed store template,
 * with its diff), Check now, Update and Update all for operators; viewers see the lists only. */
export function UpdatesList() {
  const updates = useQuery(updatesQuery);
  const canUpdate = useCan("operator");
  const [outcomes, setOutcomes] = useState<UpdateOutcome[] | null>(null);
  const check = useMutation({ mutationFn: () => unwrap(api.POST("/api/v1/updates/check", { body: {} })) });
  const apps = useQuery(appsQuery);
  const found = updates.data?.updates ?? [];
  // rows of an app updated since the check are left out until the next one
  const rows = stillCurrent(found, apps.data?.apps ?? []);
  const stale = found.length - rows.length;
  const groups = groupByApp(rows);
  const updatable = groups.filter((g) => hasDefaultUpdate(g.rows)).map((g) => g.app);
  const checked = lastChecked(found);

  return (
    <>
      <PageHeader
        title="Updates"
        description={
          <span data-testid="last-check">
            {checked ? <>Last checked {timeAgo(checked)} ({formatTime(checked)}).</> : rows.length ? "No image check has found an update yet." : "No check has found anything yet."} Checked daily.
            {stale > 0 && <> Some apps were updated since: check again to see what is newer for them now.</>}
          </span>
        }
        actions={
          canUpdate && (
            <div className="flex flex-wrap items-center gap-2">
              {check.isSuccess && <SuccessNote>Check started; the list refreshes when it ends.</SuccessNote>}
              <Button variant="outline" onClick={() => check.mutate()} disabled={check.isPending} data-testid="check-now">
                <RefreshCw className={check.isPending ? "animate-spin" : undefined} /> Check now
              </Button>
              {updatable.length > 0 && (
                <ConfirmDialog
                  trigger={<Button data-testid="update-all">Update all</Button>}
                  title="Update every app?"
                  description="Each app is updated on its own to its newest version that is not a major one; one that fails goes back to its previous version and the others go on."
                  confirmLabel={`Update ${updatable.length} ${updatable.length === 1 ? "app" : "apps"}`}
                  onConfirm={async () => setOutcomes(await updateAll(updatable))}
                >
                  <p className="text-sm">{updatable.join(", ")}</p>
                </ConfirmDialog>
              )}
            </div>
          )
        }
      />
      <ErrorAlert error={check.error} className="mb-4" title="The check could not start. Try again, or see System for what is down." />
      <ErrorAlert error={updates.error} className="mb-4" title="The updates could not be read. Reload the page; if it persists, see System." />
      {outcomes && <UpdateAllSummary outcomes={outcomes} />}
      {updates.isPending ? (
        <Spinner />
      ) : groups.length === 0 ? (
        <EmptyState>Every app is up to date, or no check has run yet{canUpdate ? ": Check now asks the registries." : "."}</EmptyState>
      ) : (
        <div className="grid gap-4">
          {groups.map((group) => (
            <AppSection key={group.app} group={group} canUpdate={canUpdate} />
          ))}
        </div>
      )}
    </>
  );
}
