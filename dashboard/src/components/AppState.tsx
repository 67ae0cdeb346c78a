/** What the app is doing and why, from the server (so it survives a reload): a deploy under way, a
 * failure with its reason and the next steps, an automatic rollback, a saved version not deployed. */
import { Link } from "@tanstack/react-router";
import { History, Loader2 } from "lucide-react";
import { type App } from "@/api/client";
import { DeploymentFailure } from "@/components/DeploymentFailure";
import { UndeployedVersion } from "@/components/UndeployedVersion";
import { Alert } from "@/components/ui/alert";
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
            {deploymentLabel(current)}
            {current.action === "update" ? "" : ` of version ${current.version}`} is under way.{" "}
            <Link to="/apps/$name/deployments/$id" params={{ name, id: current.id }} className="underline">
              Follow the deployment
            </Link>
          </span>
        </Alert>
      )}
      {failed && (
        <DeploymentFailure
          app={name}
          reason={failed.reason}
          deploymentId={failed.deployment?.id}
          title={app.last_good_version ? "This app failed" : "This app failed to deploy and never ran"}
          testId="app-failed"
        />
      )}
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
