import { useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate } from "@tanstack/react-router";
import { Eye, EyeOff, GitCompare, History, Undo2 } from "lucide-react";
import { useState } from "react";
import { api, unwrap } from "@/api/client";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { DiffView } from "@/components/DiffView";
import { EmptyState, ErrorAlert, LoadMore, Spinner } from "@/components/common";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { plainMessage, versionSource } from "@/lib/appState";
import { useCan } from "@/lib/auth";
import { formatTime } from "@/lib/format";
import { appQuery, versionsQuery } from "@/lib/queries";

/** An app's config versions, newest first, a page at a time: diff any two, roll back to one. */
export function VersionHistory({ name }: { name: string }) {
  const canAct = useCan("operator");
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const app = useQuery(appQuery(name)).data!;
  const versions = useInfiniteQuery(versionsQuery(name));
  const [diff, setDiff] = useState<{ number: number; against: number } | null>(null);
  const list = (versions.data?.pages ?? []).flatMap((p) => p.versions ?? []).sort((a, b) => (b.number ?? 0) - (a.number ?? 0));
  const latest = list[0]?.number ?? 0;

  const rollback = async (version: number) => {
    const reply = await unwrap(api.POST("/api/v1/apps/{app}/rollback", { params: { path: { app: name } }, body: { version } }));
    queryClient.invalidateQueries({ queryKey: ["versions", name] });
    queryClient.invalidateQueries({ queryKey: ["compose", name] });
    queryClient.invalidateQueries({ queryKey: ["app", name] });
    if (reply.deployment?.id) await navigate({ to: "/apps/$name/deployments/$id", params: { name, id: reply.deployment.id } });
  };

  if (versions.isPending) return <Spinner />;
  if (!versions.data) return <ErrorAlert error={versions.error} />;
  if (list.length === 0) return <EmptyState>No versions.</EmptyState>;

  return (
    <div className="grid gap-6">
      <ol className="grid gap-2">
        {list.map((v) => {
          const n = v.number ?? 0;
          const isCurrent = n === app.current_version;
          return (
            <li key={n} data-testid={`version-${n}`} className="flex flex-col gap-3 rounded-lg border bg-card p-3 sm:flex-row sm:items-center">
              <div className="flex min-w-0 flex-1 items-start gap-3">
                <span className="mt-0.5 rounded-md bg-muted px-2 py-0.5 font-mono text-sm font-semibold">v{n}</span>
                <div className="min-w-0">
                  <div className="flex flex-wrap items-center gap-2">
                    <span className="truncate font-medium">{plainMessage(v.message) || <span className="text-muted-foreground italic">no message</span>}</span>
                    {isCurrent && <Badge>current</Badge>}
                    {n === app.last_good_version && <Badge variant="success">last working version</Badge>}
                    {v.source && v.source !== "edit" && <Badge variant="muted">{versionSource(v)}</Badge>}
                  </div>
                  <div className="mt-0.5 text-xs text-muted-foreground">
                    {v.author || "system"} · {formatTime(v.created_at)} · <span className="font-mono">{v.hash?.slice(0, 12)}</span>
                    {v.deployment_id && (
                      <>
                        {" · "}
                        <Link to="/apps/$name/deployments/$id" params={{ name, id: v.deployment_id }} className="text-primary hover:underline">
                          deployment
                        </Link>
                      </>
                    )}
                  </div>
                </div>
              </div>
              <div className="flex gap-2">
                <Button variant="outline" size="sm" disabled={n <= 1} title={n <= 1 ? "The first version has nothing before it" : `Compare v${n} with v${n - 1}`} onClick={() => setDiff({ number: n, against: n - 1 })}>
                  <GitCompare />
                  Diff
                </Button>
                {canAct && (
                  <ConfirmDialog
                    trigger={
                      <Button variant="outline" size="sm" disabled={isCurrent} title={isCurrent ? "This is the current version" : undefined}>
                        <Undo2 />
                        Roll back
                      </Button>
                    }
                    title={`Roll back ${name} to v${n}?`}
                    description={`A new version equal to v${n} is stored and deployed. History is kept.`}
                    onConfirm={() => rollback(n)}
                  />
                )}
              </div>
            </li>
          );
        })}
      </ol>
      <ErrorAlert error={versions.error} />
      <LoadMore query={versions} className="mt-0" />
      {diff && <DiffPanel key={diff.number} app={name} number={diff.number} against={diff.against} latest={latest} onChange={setDiff} />}
    </div>
  );
}

/** The diff of version `number` against another; an admin may show the .env secrets (masked otherwise). */
function DiffPanel({ app, number, against, latest, onChange }: { app: string; number: number; against: number; latest: number; onChange: (d: { number: number; against: number }) => void }) {
  const isAdmin = useCan("admin");
  const [reveal, setReveal] = useState(false);
  const diff = useQuery({
    queryKey: ["diff", app, number, against, reveal],
    queryFn: () =>
      unwrap(api.GET("/api/v1/apps/{app}/versions/{number}/diff", { params: { path: { app, number }, query: { against, ...(reveal ? { reveal_secrets: true } : {}) } } })),
    gcTime: reveal ? 0 : undefined, // revealed secrets do not stay in the cache
  });
  // versions are numbered 1…latest with no gaps (history is never rewritten), loaded or not
  const versions = Array.from({ length: Math.max(latest, number) }, (_, i) => Math.max(latest, number) - i).filter((v) => v !== number);
  return (
    <section data-testid="diff-view" className="grid gap-3" aria-label={`Changes from v${against} to v${number}`}>
      <div className="flex flex-wrap items-end gap-3">
        <h2 className="flex items-center gap-2 text-lg font-semibold">
          <History className="size-4" /> v{against} → v{number}
        </h2>
        <div className="ml-auto flex flex-wrap items-end gap-2">
          {isAdmin && (
            <Button variant="outline" aria-pressed={reveal} title={reveal ? "Mask the .env secrets again" : "Show the .env secrets unmasked (admins only)"} onClick={() => setReveal(!reveal)}>
              {reveal ? <EyeOff /> : <Eye />}
              {reveal ? "Hide secrets" : "Show secrets"}
            </Button>
          )}
          <Label htmlFor="diff-against" className="mb-2.5">Compare with</Label>
          <NativeSelect id="diff-against" className="w-24" value={against} onChange={(e) => onChange({ number, against: Number(e.target.value) })}>
            {versions.map((v) => (
              <option key={v} value={v}>
                v{v}
              </option>
            ))}
          </NativeSelect>
        </div>
      </div>
      {diff.isPending ? (
        <Spinner />
      ) : diff.isError ? (
        <ErrorAlert error={diff.error} />
      ) : (
        <>
          <DiffView title="compose.yaml" diff={diff.data.compose_diff ?? ""} />
          <DiffView title={reveal ? ".env (secrets shown)" : ".env"} diff={diff.data.env_diff ?? ""} />
        </>
      )}
    </section>
  );
}
