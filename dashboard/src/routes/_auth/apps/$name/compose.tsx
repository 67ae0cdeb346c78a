import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createFileRoute, Link } from "@tanstack/react-router";
import { CheckCircle2, TriangleAlert } from "lucide-react";
import { useEffect, useRef, useState } from "react";
import { api, unwrap, type Deployment } from "@/api/client";
import { ApiError } from "@/api/errors";
import { CodeEditor } from "@/components/CodeEditor";
import { ComposeCheckPanel } from "@/components/ComposeCheck";
import { ErrorAlert, Spinner } from "@/components/common";
import { UndeployedVersion } from "@/components/UndeployedVersion";
import { UnsavedChangesPrompt } from "@/components/UnsavedChanges";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { useComposeCheck } from "@/hooks/useComposeCheck";
import { useCan } from "@/lib/auth";
import { appQuery } from "@/lib/queries";

export const Route = createFileRoute("/_auth/apps/$name/compose")({
  component: ComposeTab,
});

function ComposeTab() {
  const { name } = Route.useParams();
  const canEdit = useCan("operator");
  const isAdmin = useCan("admin");
  const queryClient = useQueryClient();
  const app = useQuery(appQuery(name));
  const files = useQuery({
    queryKey: ["compose", name],
    queryFn: () => unwrap(api.GET("/api/v1/apps/{app}/compose", { params: { path: { app: name } } })),
    refetchOnWindowFocus: false,
    staleTime: Infinity,
  });
  const [compose, setCompose] = useState("");
  const [env, setEnv] = useState("");
  const [message, setMessage] = useState("");
  const [overwriteDrift, setOverwriteDrift] = useState(false);
  const [busy, setBusy] = useState<"save" | "deploy" | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<{ number: number; deployment?: Deployment } | null>(null);

  // "Keep my edits" after someone else saved: the newest version is loaded (its ETag) under the
  // editors' own text, which is then saved on top of it
  const keep = useRef<{ compose: string; env: string } | null>(null);
  useEffect(() => {
    if (files.data) {
      setCompose(keep.current?.compose ?? files.data.compose ?? "");
      setEnv(keep.current?.env ?? files.data.env ?? "");
      keep.current = null;
    }
  }, [files.data]);

  const loaded = files.data;
  const edited = loaded !== undefined && (compose !== (loaded.compose ?? "") || env !== (loaded.env ?? ""));
  // Checked as an edit of this app (with its exceptions) once the editors differ from the version.
  const check = useComposeCheck(canEdit && edited && compose.trim() ? { name, compose, env } : null);

  if (files.isPending) return <Spinner />;
  if (files.isError) return <ErrorAlert error={files.error} />;
  const current = files.data;
  const dirty = edited;

  const save = async (deploy: boolean) => {
    setBusy(deploy ? "deploy" : "save");
    setError(null);
    setSaved(null);
    try {
      const reply = await unwrap(
        api.PUT("/api/v1/apps/{app}/compose", {
          params: { path: { app: name }, query: { deploy, overwrite_drift: overwriteDrift || undefined }, header: { "If-Match": current.etag ?? "" } },
          body: { compose, env, message },
        }),
      );
      setSaved({ number: reply.version?.number ?? 0, deployment: reply.deployment });
      setMessage("");
      setOverwriteDrift(false);
      await queryClient.invalidateQueries({ queryKey: ["compose", name] });
      queryClient.invalidateQueries({ queryKey: ["versions", name] });
      queryClient.invalidateQueries({ queryKey: ["app", name] });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };

  const stale = error instanceof ApiError && error.status === 409 && !current.drift;
  // not while the newest version is being read ("Keep my edits"): a save then would carry the old ETag
  const canSave = busy === null && !files.isFetching && (dirty || Boolean(current.drift));

  return (
    <div className="grid gap-5">
      <UnsavedChangesPrompt dirty={canEdit && dirty && busy === null} what="your compose edits" />
      <p className="text-sm text-muted-foreground">
        Version {current.version}. Saving stores a new version; nothing is overwritten.
      </p>
      {current.drift && (
        <Alert variant="info" role="status">
          <TriangleAlert className="mt-0.5 text-warning" />
          <div>
            The files on disk were edited by hand and differ from version {current.version}. Saving sends what is in the editors; to replace the hand edits, tick
            “overwrite the files on disk”.
            {canEdit && (
              <div className="mt-2 flex flex-wrap gap-3">
                <Button size="sm" variant="outline" onClick={() => { setCompose(current.disk_compose ?? ""); setEnv(current.disk_env ?? ""); }}>
                  Load the files on disk
                </Button>
                <label className="flex items-center gap-2 text-sm">
                  <input type="checkbox" checked={overwriteDrift} onChange={(e) => setOverwriteDrift(e.target.checked)} className="size-4" />
                  Overwrite the files on disk
                </label>
              </div>
            )}
          </div>
        </Alert>
      )}
      <div className="grid gap-2">
        <Label>compose.yaml</Label>
        <CodeEditor value={compose} onChange={setCompose} language="yaml" readOnly={!canEdit} label="compose.yaml" testId="compose-editor" />
        <ComposeCheckPanel
          check={check}
          adminHint={
            isAdmin ? (
              <>
                As an admin, you can allow it under Change exceptions on the app's{" "}
                <Link to="/apps/$name" params={{ name }} className="underline">
                  Overview
                </Link>
                .
              </>
            ) : undefined
          }
        />
      </div>
      <div className="grid gap-2">
        <Label>.env</Label>
        {current.env_masked && <p className="text-xs text-muted-foreground">Secret values are masked for your role.</p>}
        <CodeEditor value={env} onChange={setEnv} readOnly={!canEdit || Boolean(current.env_masked)} label=".env" testId="env-editor" />
      </div>
      {app.data && !dirty && !saved?.deployment && <UndeployedVersion key={current.version} app={app.data} canDeploy={canEdit} />}
      {error ? (
        <div className="grid gap-2">
          <ErrorAlert error={error} />
          {stale && (
            <div className="flex flex-wrap gap-2">
              <Button
                size="sm"
                className="w-fit"
                onClick={() => {
                  keep.current = { compose, env };
                  setError(null);
                  void files.refetch();
                }}
              >
                Keep my edits (saving replaces the newest version's files)
              </Button>
              <Button variant="outline" size="sm" className="w-fit" onClick={() => { setError(null); void files.refetch(); }}>
                Load the newest version (your edits are lost)
              </Button>
            </div>
          )}
        </div>
      ) : null}
      {saved && (
        <Alert variant="success">
          <CheckCircle2 className="mt-0.5" />
          <span>
            Saved version {saved.number}
            {saved.deployment?.id && (
              <>
                {" "}— deploying.{" "}
                <Link to="/apps/$name/deployments/$id" params={{ name, id: saved.deployment.id }} className="underline">
                  Follow the deployment
                </Link>
              </>
            )}
          </span>
        </Alert>
      )}
      {canEdit && (
        <div className="flex flex-col gap-3 sm:flex-row sm:items-end">
          <div className="grid flex-1 gap-1.5">
            <Label htmlFor="change-message">Change message</Label>
            <Input id="change-message" placeholder="What changed, and why" value={message} onChange={(e) => setMessage(e.target.value)} />
          </div>
          <div className="flex gap-2">
            <Button variant="outline" onClick={() => save(false)} disabled={!canSave}>
              {busy === "save" ? "Saving…" : "Save"}
            </Button>
            <Button onClick={() => save(true)} disabled={!canSave}>
              {busy === "deploy" ? "Saving…" : "Save and deploy"}
            </Button>
          </div>
        </div>
      )}
    </div>
  );
}
