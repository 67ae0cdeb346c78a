import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { AlertTriangle, ChevronDown, ChevronRight, RefreshCw, Trash2 } from "lucide-react";
import { useEffect, useState } from "react";
import { api, unwrap } from "@/api/client";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState, ErrorAlert, Spinner, SuccessNote } from "@/components/common";
import { TemplateLink } from "@/components/TemplateLink";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { useCan } from "@/lib/auth";
import { useEvents, useEventsStarts } from "@/lib/events";
import { formatTime, timeAgo } from "@/lib/format";
import { formatName, refreshedWords, sourceName, storeProblem, storeQuery, storesQuery, type StoreSummary } from "@/lib/stores";

/** What a store's last refresh in this page said (the `store_refreshed` event's payload). */
type Refreshed = { templates: number; skipped: number; error: string; changed: string[] };

/** Refresh: "Refreshing…" from the click until the store's `store_refreshed` event (or while the
 * server says it refreshes); the event itself refetches the list, the details and the catalog. */
function useRefresh() {
  const [waiting, setWaiting] = useState<ReadonlySet<string>>(new Set());
  const [done, setDone] = useState<Record<string, Refreshed>>({});
  const [failed, setFailed] = useState<Record<string, unknown>>({});
  const starts = useEventsStarts();
  // a stream that (re)started may have missed the event: the refetched list's `refreshing` says
  useEffect(() => setWaiting(new Set()), [starts]);
  useEvents((event) => {
    if (event.type !== "store_refreshed") return;
    const p = event.payload;
    setWaiting((w) => without(w, event.subject));
    setDone((d) => ({
      ...d,
      [event.subject]: {
        templates: Number(p.templates ?? 0),
        skipped: Number(p.skipped ?? 0),
        error: typeof p.error === "string" ? p.error : "",
        changed: Array.isArray(p.changed) ? p.changed.map(String) : [],
      },
    }));
  });
  const start = async (name: string) => {
    setWaiting((w) => new Set(w).add(name));
    setFailed(({ [name]: _, ...rest }) => rest);
    setDone(({ [name]: _, ...rest }) => rest);
    try {
      await unwrap(api.POST("/api/v1/catalog/stores/{name}/refresh", { params: { path: { name } }, body: {} }));
    } catch (err) {
      setWaiting((w) => without(w, name));
      setFailed((f) => ({ ...f, [name]: err }));
    }
  };
  return { waiting, done, failed, start };
}

function without(set: ReadonlySet<string>, name: string): ReadonlySet<string> {
  if (!set.has(name)) return set;
  const next = new Set(set);
  next.delete(name);
  return next;
}

/** The stores, each with its numbers, its problem and next step, and (admins) Refresh and Remove;
 * `open` is the store whose details show (the page keeps it in the URL). */
export function StoresList({ open, onToggle }: { open?: string; onToggle: (name: string) => void }) {
  const isAdmin = useCan("admin");
  const queryClient = useQueryClient();
  const stores = useQuery({
    ...storesQuery,
    // store_refreshed reaches admins only: the others look again while a refresh runs
    refetchInterval: (query) => (!isAdmin && query.state.data?.stores?.some((s) => s.refreshing) ? 5_000 : false),
  });
  const refresh = useRefresh();
  const list = stores.data?.stores ?? [];

  const remove = async (name: string) => {
    await unwrap(api.DELETE("/api/v1/catalog/stores/{name}", { params: { path: { name } } }));
    queryClient.removeQueries({ queryKey: ["store", name] });
    await Promise.all([queryClient.invalidateQueries({ queryKey: ["stores"] }), queryClient.invalidateQueries({ queryKey: ["catalog"] })]);
  };

  if (stores.isPending) return <Spinner />;
  if (stores.isError) return <ErrorAlert error={stores.error} title="The stores could not be read. Reload the page; if it persists, see System." />;
  if (list.length === 0) {
    return <EmptyState>No stores yet.{isAdmin ? " Add one above: its apps join the catalog." : " An admin can add one; its apps then join the catalog."}</EmptyState>;
  }
  return (
    <ul className="grid gap-4" aria-label="Stores">
      {list.map((store) => (
        <StoreCard
          key={store.name}
          store={store}
          expanded={open === store.name}
          onToggle={() => onToggle(store.name ?? "")}
          isAdmin={isAdmin}
          refreshing={refresh.waiting.has(store.name ?? "") || !!store.refreshing}
          refreshed={refresh.done[store.name ?? ""]}
          refreshError={refresh.failed[store.name ?? ""]}
          onRefresh={() => refresh.start(store.name ?? "")}
          onRemove={() => remove(store.name ?? "")}
        />
      ))}
    </ul>
  );
}

interface StoreCardProps {
  store: StoreSummary;
  expanded: boolean;
  onToggle: () => void;
  isAdmin: boolean;
  refreshing: boolean;
  refreshed?: Refreshed;
  refreshError?: unknown;
  onRefresh: () => void;
  onRemove: () => Promise<void>;
}

function StoreCard({ store, expanded, onToggle, isAdmin, refreshing, refreshed, refreshError, onRefresh, onRemove }: StoreCardProps) {
  const name = store.name ?? "";
  const problem = storeProblem(store);
  const templates = store.templates ?? 0;
  const skipped = store.skipped ?? 0;
  return (
    <li className="rounded-xl border bg-card shadow-xs" data-testid={`store-${name}`}>
      <div className="flex flex-col gap-3 p-4 md:flex-row md:items-start md:justify-between">
        <div className="min-w-0">
          <div className="flex flex-wrap items-center gap-2">
            <h2 className="font-semibold">{name}</h2>
            <Badge variant="outline" data-testid="store-format">{formatName(store.format)}</Badge>
            {store.source && <Badge variant="muted">{sourceName(store.source)}</Badge>}
          </div>
          <div className="mt-1 truncate font-mono text-xs text-muted-foreground" title={store.url}>{store.url}</div>
          <dl className="mt-2 flex flex-wrap gap-x-5 gap-y-1 text-sm">
            <div className="flex gap-1">
              <dt className="text-muted-foreground">Templates</dt>
              <dd className="font-medium" data-testid="store-templates">{templates}</dd>
            </div>
            <div className="flex gap-1">
              <dt className="text-muted-foreground">Skipped</dt>
              <dd className={skipped ? "font-medium text-[oklch(0.45_0.1_65)]" : "font-medium"} data-testid="store-skipped">{skipped}</dd>
            </div>
            <div className="flex gap-1">
              <dt className="text-muted-foreground">Last refresh</dt>
              <dd title={formatTime(store.refreshed_at)}>{timeAgo(store.refreshed_at)}</dd>
            </div>
          </dl>
        </div>
        <div className="flex shrink-0 flex-wrap items-center gap-2">
          <Button variant="outline" size="sm" onClick={onToggle} aria-expanded={expanded} aria-controls={`store-details-${name}`}>
            {expanded ? <ChevronDown /> : <ChevronRight />}
            Details
          </Button>
          {isAdmin && (
            <>
              <Button variant="outline" size="sm" onClick={onRefresh} disabled={refreshing} data-testid="store-refresh">
                <RefreshCw className={refreshing ? "animate-spin" : undefined} />
                {refreshing ? "Refreshing…" : "Refresh"}
              </Button>
              <ConfirmDialog
                trigger={
                  <Button variant="outline" size="sm" aria-label={`Remove ${name}`} disabled={refreshing}>
                    <Trash2 />
                    Remove
                  </Button>
                }
                title={`Remove the store ${name}?`}
                description={`Its ${templates} ${templates === 1 ? "template leaves" : "templates leave"} the catalog. Apps already deployed from it keep running and stay editable; they just no longer get template updates.`}
                confirmLabel="Remove store"
                confirmVariant="destructive"
                onConfirm={onRemove}
              />
            </>
          )}
        </div>
      </div>
      {(problem || refreshError || refreshed) && (
        <div className="grid gap-2 px-4 pb-4">
          {problem && (
            <Alert variant={problem.severity === "error" ? "destructive" : "default"} role="status" data-testid="store-problem" className={problem.severity === "warning" ? "border-warning/50 bg-warning/10" : undefined}>
              <AlertTriangle className="mt-0.5" />
              <div className="min-w-0">
                <p className="font-medium break-words">{problem.summary}</p>
                <p className="mt-1 text-xs text-foreground/80">{problem.next}</p>
              </div>
            </Alert>
          )}
          <ErrorAlert error={refreshError} title="The refresh could not start." />
          {refreshed && !refreshing && <SuccessNote>{refreshedWords(refreshed)}</SuccessNote>}
        </div>
      )}
      {expanded && <StoreDetails name={name} />}
    </li>
  );
}

/** A store's skipped entries with their reasons, and the templates it brought (links into the
 * catalog). */
function StoreDetails({ name }: { name: string }) {
  const detail = useQuery(storeQuery(name));
  const skipped = detail.data?.skipped ?? [];
  const templates = detail.data?.template_names ?? [];
  return (
    <div id={`store-details-${name}`} className="grid gap-5 border-t px-4 py-4" data-testid="store-details">
      {detail.isPending ? (
        <Spinner />
      ) : detail.isError ? (
        <ErrorAlert error={detail.error} />
      ) : (
        <>
          <section>
            <div className="mb-2 flex flex-wrap items-baseline justify-between gap-2">
              <h3 className="text-sm font-semibold">Templates it brought ({templates.length})</h3>
              {templates.length > 0 && (
                <Link to="/catalog" search={{ store: name }} className="text-sm text-primary hover:underline">
                  Show them in the catalog
                </Link>
              )}
            </div>
            {templates.length ? (
              <ul className="flex flex-wrap gap-2" data-testid="store-template-list">
                {templates.map((t) => (
                  <li key={t}>
                    <TemplateLink name={t} className="inline-flex rounded-full border px-3 py-1 font-mono text-xs text-primary transition-colors hover:bg-accent">
                      {t}
                    </TemplateLink>
                  </li>
                ))}
              </ul>
            ) : (
              <p className="text-sm text-muted-foreground">None: no entry could be used.</p>
            )}
          </section>
          <section>
            <h3 className="mb-2 text-sm font-semibold">Skipped entries ({skipped.length})</h3>
            {skipped.length ? (
              <div className="rounded-lg border">
                <Table>
                  <THead>
                    <TR>
                      <TH>Entry</TH>
                      <TH>Why it was skipped</TH>
                    </TR>
                  </THead>
                  <TBody>
                    {skipped.map((s, i) => (
                      <TR key={`${s.entry}-${i}`} data-testid={`skipped-${s.entry}`}>
                        <TD className="align-top font-mono text-xs whitespace-nowrap">{s.entry}</TD>
                        <TD className="text-sm break-words">{s.reason}</TD>
                      </TR>
                    ))}
                  </TBody>
                </Table>
              </div>
            ) : (
              <p className="text-sm text-muted-foreground">Nothing was skipped: every entry became a template.</p>
            )}
          </section>
        </>
      )}
    </div>
  );
}
