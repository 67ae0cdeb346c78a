import { useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate } from "@tanstack/react-router";
import { useState } from "react";
import { api, unwrap } from "@/api/client";
import { explainError } from "@/api/errors";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { ErrorAlert } from "@/components/common";
import { Button } from "@/components/ui/button";
import { useCan } from "@/lib/auth";

/**
 * A failed deployment, said plainly (the shared ErrorAlert: summary first, Docker's words on demand),
 * with the next steps as buttons: View the log (when `deploymentId` is given, e.g. on the app's
 * page), Edit compose, Retry (a redeploy of the current version, then its live progress) and Remove.
 * Viewers see the words and the log link without the other buttons.
 */
export function DeploymentFailure({
  app,
  reason,
  title = "The deployment failed",
  deploymentId,
  testId = "deployment-failure",
}: {
  app: string;
  reason: string;
  title?: string;
  deploymentId?: string;
  testId?: string;
}) {
  const canAct = useCan("operator");
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [actionError, setActionError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const kind = explainError(reason).kind;

  const retry = async () => {
    setBusy(true);
    setActionError(null);
    try {
      const reply = await unwrap(api.POST("/api/v1/apps/{app}/redeploy", { params: { path: { app } }, body: {} }));
      queryClient.invalidateQueries({ queryKey: ["app", app] });
      await navigate({ to: "/apps/$name/deployments/$id", params: { name: app, id: reply.deployment?.id ?? "" } });
    } catch (error) {
      setActionError(error);
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    await unwrap(api.DELETE("/api/v1/apps/{app}", { params: { path: { app } } }));
    queryClient.invalidateQueries({ queryKey: ["apps"] });
    await navigate({ to: "/apps" });
  };

  const log = deploymentId ? (
    <Button asChild size="sm" variant="outline">
      <Link to="/apps/$name/deployments/$id" params={{ name: app, id: deploymentId }}>
        View the log
      </Link>
    </Button>
  ) : null;
  const actions = canAct ? (
    <>
      {log}
      <Button asChild size="sm" variant={kind === "other" ? "outline" : "default"}>
        <Link to="/apps/$name/compose" params={{ name: app }}>
          Edit compose
        </Link>
      </Button>
      <Button size="sm" variant="outline" onClick={retry} disabled={busy}>
        {busy ? "Retrying…" : "Retry"}
      </Button>
      <ConfirmDialog
        trigger={
          <Button size="sm" variant="outline">
            Remove
          </Button>
        }
        title={`Remove ${app}?`}
        description="Its containers and files are removed; its named volumes are kept."
        confirmLabel="Remove"
        confirmVariant="destructive"
        onConfirm={remove}
      />
    </>
  ) : (
    log ?? undefined
  );

  return (
    <div className="grid gap-2" data-testid={testId}>
      <ErrorAlert error={reason} title={title} actions={actions} />
      <ErrorAlert error={actionError} />
    </div>
  );
}
