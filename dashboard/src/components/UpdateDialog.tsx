import { useNavigate } from "@tanstack/react-router";
import { ArrowUpCircle } from "lucide-react";
import { useState } from "react";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { Button } from "@/components/ui/button";
import { hasDefaultUpdate, plannedChanges, requestUpdate, updateBody, type ImageUpdate } from "@/lib/updates";

/** Update one app: a confirmation listing what changes (service, image, from → to); a major is
 * only included after its own checkbox. Confirm asks for the update, then opens its deployment's
 * live page, where the steps (snapshot, pull, redeploy, health gate, rollback) show as they run. */
export function UpdateDialog({ app, rows }: { app: string; rows: ImageUpdate[] }) {
  const navigate = useNavigate();
  const [major, setMajor] = useState(false);
  const hasMajor = rows.some((r) => r.kind === "major");
  const changes = plannedChanges(rows, major);
  if (!hasDefaultUpdate(rows) && !hasMajor) return null;

  const confirm = async () => {
    const deployment = await requestUpdate(app, updateBody(rows, major));
    if (deployment.id) await navigate({ to: "/apps/$name/deployments/$id", params: { name: app, id: deployment.id } });
  };

  return (
    <ConfirmDialog
      trigger={
        <Button size="sm" data-testid={`update-${app}`}>
          <ArrowUpCircle /> Update
        </Button>
      }
      title={`Update ${app}?`}
      description="AppOS saves the current version and its images first, pulls the new images while the app keeps running, then redeploys. If the app is not healthy afterwards, it goes back to the saved version."
      confirmLabel={changes.length ? "Update" : "Nothing selected"}
      onConfirm={changes.length ? confirm : () => Promise.reject(new Error("Nothing to update without the major version: tick the box to include it."))}
      onOpenChange={(open) => !open && setMajor(false)}
    >
      <ul className="grid gap-1 text-sm" data-testid="update-changes">
        {changes.map((c) => (
          <li key={c.service}>
            <span className="font-medium">{c.service}</span> <span className="font-mono text-xs text-muted-foreground">{c.image}</span>: {c.from} → {c.to}
            {c.kind === "major" && <span className="text-[oklch(0.45_0.1_65)]"> (major)</span>}
          </li>
        ))}
        {!changes.length && <li className="text-muted-foreground">Only a major version is available.</li>}
      </ul>
      {hasMajor && (
        <label className="flex items-start gap-2 text-sm">
          <input type="checkbox" className="mt-0.5 size-4" checked={major} onChange={(e) => setMajor(e.target.checked)} data-testid="allow-major" />
          <span>Include the major version. It may need changes to the app's settings or data: read its release notes first.</span>
        </label>
      )}
    </ConfirmDialog>
  );
}
