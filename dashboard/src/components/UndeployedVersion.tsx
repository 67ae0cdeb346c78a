/** A saved version that is not the one running: says so, with one click to deploy it (a redeploy
 * applies the app's current version, see the executor). */
import { useQueryClient } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { Rocket } from "lucide-react";
import { useState } from "react";
import { api, unwrap, type App, type Deployment } from "@/api/client";
import { ErrorAlert } from "@/components/common";
import { savedNotDeployed } from "@/lib/appState";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";

/** Whether the app's current version is saved but not deployed (and no deployment is running). */
export function undeployed(app: Pick<App, "current_version" | "last_good_version" | "status" | "last_version_deployment">): boolean {
  return savedNotDeployed(app);
}

export function UndeployedVersion({ app, canDeploy }: { app: App; canDeploy: boolean }) {
  const queryClient = useQueryClient();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [started, setStarted] = useState<Deployment | null>(null);
  const name = app.name ?? "";
  if (started?.id) {
    return (
      <Alert variant="success" role="status">
        <Rocket className="mt-0.5" />
        <span>
          Deploying version {started.version}.{" "}
          <Link to="/apps/$name/deployments/$id" params={{ name, id: started.id }} className="underline">
            Follow the deployment
          </Link>
        </span>
      </Alert>
    );
  }
  if (!undeployed(app)) return null;
  const deploy = async () => {
    setBusy(true);
    setError(null);
    try {
      const reply = await unwrap(api.POST("/api/v1/apps/{app}/redeploy", { params: { path: { app: name } }, body: {} }));
      setStarted(reply.deployment ?? null);
      queryClient.invalidateQueries({ queryKey: ["app", name] });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Alert variant="info" role="status" data-testid="undeployed-version">
      <Rocket className="mt-0.5" />
      <div className="grid gap-2">
        <span>
          Version {app.current_version} is saved, not deployed.{" "}
          {app.last_good_version ? `Version ${app.last_good_version} is the last one deployed.` : "No version has been deployed yet."}
        </span>
        <ErrorAlert error={error} />
        {canDeploy && (
          <Button size="sm" className="w-fit" onClick={deploy} disabled={busy}>
            {busy ? "Starting…" : `Deploy v${app.current_version}`}
          </Button>
        )}
      </div>
    </Alert>
  );
}
