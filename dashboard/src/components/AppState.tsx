/** What the app is doing and why, from the server (so it survives a reload): a deploy under way, a
 * failure with its reason and the next steps, an automatic rollback, a saved version not deployed. */
import { useQueryClient } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { CircleAlert, History, Loader2, Pencil, RefreshCw } from "lucide-react";
import { useState } from "react";
import { api, unwrap, type App } from "@/api/client";
import { ErrorAlert } from "@/components/common";
import { UndeployedVersion } from "@/components/UndeployedVersion";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { autoRollbackNote, deploymentLabel, failure } from "@/lib/appState";

export function AppState({ app, canAct }: { app: App; canAct: boolean }) {
  const name = app.name ?? "";
  const failed = failure(app);
  const rollback = autoRollbackNote(app);
  const current = app.last_deployment;
  return (
    <>
      {app.status === "deploying" && current?.id && (
        <Alert variant="info" data-testid="app-deploying">
          <Loader2 className="mt-0.5 animate-spin" />
          <span>
            {deploymentLabel(current)} of version {current.version} is under way.{" "}
            <Link to="/apps/$name/deployments/$id" params={{ name, id: current.id }} className="underline">
              Follow the deployment
            </Link>
          </span>
        </Alert>
      )}
      {failed && <Failure app={app} reason={failed.reason} deploymentId={failed.deployment?.id} canAct={canAct} />}
      {rollback && (
        <Alert variant="default" data-testid="app-rolled-back">
          <History className="mt-0.5" />
          <span>{rollback}</span>
        </Alert>
      )}
      <UndeployedVersion app={app} canDeploy={canAct} />
    </>
  );
}

function Failure({ app, reason, deploymentId, canAct }: { app: App; reason: string; deploymentId?: string; canAct: boolean }) {
  const name = app.name ?? "";
  const queryClient = useQueryClient();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const retry = async () => {
    setBusy(true);
    setError(null);
    try {
      await unwrap(api.POST("/api/v1/apps/{app}/redeploy", { params: { path: { app: name } }, body: {} }));
      queryClient.invalidateQueries({ queryKey: ["app", name] });
      queryClient.invalidateQueries({ queryKey: ["apps"] });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Alert variant="destructive" data-testid="app-failed">
      <CircleAlert className="mt-0.5" />
      <div className="grid gap-2">
        <span>
          <strong>{app.last_good_version ? "This app failed" : "This app failed to deploy and never ran"}:</strong> {reason}
        </span>
        <ErrorAlert error={error} />
        <div className="flex flex-wrap gap-2">
          {deploymentId && (
            <Button asChild size="sm" variant="outline">
              <Link to="/apps/$name/deployments/$id" params={{ name, id: deploymentId }}>
                View the log
              </Link>
            </Button>
          )}
          {canAct && (
            <>
              <Button asChild size="sm" variant="outline">
                <Link to="/apps/$name/compose" params={{ name }}>
                  <Pencil /> Edit compose
                </Link>
              </Button>
              <Button size="sm" variant="outline" onClick={retry} disabled={busy}>
                <RefreshCw /> {busy ? "Starting…" : "Retry"}
              </Button>
            </>
          )}
        </div>
      </div>
    </Alert>
  );
}
