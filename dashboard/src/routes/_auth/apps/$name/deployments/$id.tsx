import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createFileRoute, Link } from "@tanstack/react-router";
import { ArrowLeft, ExternalLink, KeyRound } from "lucide-react";
import { useState } from "react";
import { api, unwrap } from "@/api/client";
import { CopyButton } from "@/components/CopyButton";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { DeploymentFailure } from "@/components/DeploymentFailure";
import { DeploymentImages } from "@/components/DeploymentImages";
import { ErrorAlert, Spinner, StatusBadge } from "@/components/common";
import { LogView } from "@/components/LogView";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { useDeploymentLogs } from "@/hooks/useDeploymentLogs";
import { deploymentLabel } from "@/lib/appState";
import { webUrl } from "@/lib/apps";
import { useCan } from "@/lib/auth";
import { duration, formatTime } from "@/lib/format";
import { takeGenerated } from "@/lib/oneTime";
import { appQuery } from "@/lib/queries";

export const Route = createFileRoute("/_auth/apps/$name/deployments/$id")({
  component: DeploymentPage,
});

const ACTIVE = ["pending", "running"];

function DeploymentPage() {
  const { name, id } = Route.useParams();
  const canAct = useCan("operator");
  const queryClient = useQueryClient();
  const [generated] = useState(() => takeGenerated(id));
  const deployment = useQuery({
    queryKey: ["deployment", id],
    queryFn: () => unwrap(api.GET("/api/v1/deployments/{id}", { params: { path: { id } } })),
  });
  const status = deployment.data?.status ?? "pending";
  const active = ACTIVE.includes(status);
  const logs = useDeploymentLogs(id, active);
  const app = useQuery({ ...appQuery(name), enabled: status === "succeeded" });
  // an update's version says what it changes ("web 1.0.0 → 1.1.0")
  const updated = useQuery({
    queryKey: ["versions", name, deployment.data?.version],
    queryFn: () => unwrap(api.GET("/api/v1/apps/{app}/versions/{number}", { params: { path: { app: name, number: deployment.data?.version ?? 0 } } })),
    enabled: deployment.data?.action === "update" && !!deployment.data.version,
  });
  const appUrl = app.data ? webUrl(app.data) : null;

  const cancel = async () => {
    await unwrap(api.POST("/api/v1/deployments/{id}/cancel", { params: { path: { id } }, body: {} }));
    queryClient.invalidateQueries({ queryKey: ["deployment", id] });
  };

  const d = deployment.data;
  return (
    <div className="grid gap-4">
      <Link to="/apps/$name/deployments" params={{ name }} className="inline-flex items-center gap-1 text-sm text-muted-foreground hover:text-foreground">
        <ArrowLeft className="size-4" /> All deployments
      </Link>
      {generated && (
        <Alert variant="info" data-testid="generated-secrets">
          <KeyRound className="mt-0.5" />
          <div className="min-w-0">
            <p className="font-medium">Generated secrets — shown once</p>
            <p className="text-xs text-muted-foreground">Copy them now; AppOS keeps them only in the app's .env.</p>
            <dl className="mt-2 grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 font-mono text-xs">
              {Object.entries(generated).map(([key, value]) => (
                <div key={key} className="contents">
                  <dt className="text-muted-foreground">{key}</dt>
                  <dd className="flex items-center gap-2">
                    <span className="min-w-0 break-all select-all" data-testid={`generated-${key}`}>
                      {value}
                    </span>
                    <CopyButton text={value} what={key} />
                  </dd>
                </div>
              ))}
            </dl>
          </div>
        </Alert>
      )}
      <ErrorAlert error={deployment.error} />
      <div className="flex flex-wrap items-center gap-3 rounded-lg border bg-card px-4 py-3">
        <span className="font-medium" data-testid="deployment-kind">{d ? deploymentLabel(d) : "Deployment"}</span>
        {updated.data?.message && <span className="font-mono text-sm" data-testid="update-change">{updated.data.message}</span>}
        <StatusBadge status={status} testId="deployment-status" />
        {d && (
          <span className="text-sm text-muted-foreground">
            v{d.version} · by {d.actor || "system"} · {formatTime(d.created_at)}
            {d.started_at ? ` · ${duration(d.started_at, d.finished_at)}` : ""}
            {d.attempt && d.attempt > 1 ? ` · attempt ${d.attempt}` : ""}
          </span>
        )}
        {active && <Spinner label={status === "pending" ? "Waiting for a worker…" : "Running…"} className="ml-auto" />}
        {active && canAct && (
          <ConfirmDialog
            trigger={
              <Button variant="outline" size="sm">
                Cancel deployment
              </Button>
            }
            title="Cancel this deployment?"
            description="Compose is stopped; what it already changed stays."
            confirmVariant="destructive"
            onConfirm={cancel}
          />
        )}
      </div>
      {status === "succeeded" && appUrl && (
        <div className="flex flex-wrap items-center gap-3 rounded-lg border bg-card px-4 py-3 text-sm" data-testid="deploy-open">
          <span>{name} is deployed.</span>
          <Button asChild size="sm">
            <a href={appUrl} target="_blank" rel="noreferrer">
              Open {name} <ExternalLink />
            </a>
          </Button>
        </div>
      )}
      {d?.reason && status === "failed" && <DeploymentFailure app={name} reason={d.reason} />}
      {d?.reason && status !== "failed" && (
        <Alert variant="default" role="status">
          <span>{d.reason}</span>
        </Alert>
      )}
      <DeploymentImages images={d?.images} />
      <ErrorAlert error={logs.error} />
      {deployment.isPending && <Spinner />}
      <LogView lines={logs.lines.map((l) => ({ key: l.seq, text: l.line }))} testId="deployment-log" empty={active ? "Waiting for output…" : "This deployment wrote no output."} />
    </div>
  );
}
