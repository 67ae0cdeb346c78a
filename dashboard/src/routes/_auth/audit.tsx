import { useInfiniteQuery } from "@tanstack/react-query";
import { createFileRoute } from "@tanstack/react-router";
import { useState, type FormEvent } from "react";
import { api, unwrap } from "@/api/client";
import { EmptyState, ErrorAlert, LoadMore, PageHeader, Spinner } from "@/components/common";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { useCan } from "@/lib/auth";
import { formatTime } from "@/lib/format";

export const Route = createFileRoute("/_auth/audit")({
  component: AuditPage,
});

type Filters = { user: string; app: string; action: string };

function AuditPage() {
  const isAdmin = useCan("admin");
  const [draft, setDraft] = useState<Filters>({ user: "", app: "", action: "" });
  const [filters, setFilters] = useState<Filters>(draft);
  const audit = useInfiniteQuery({
    queryKey: ["audit", filters],
    enabled: isAdmin,
    initialPageParam: "",
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/api/v1/audit", {
          params: {
            query: {
              user: filters.user || undefined,
              app: filters.app || undefined,
              action: filters.action || undefined,
              page_size: 100,
              page_token: pageParam || undefined,
            },
          },
        }),
      ),
    getNextPageParam: (last) => last.next_page_token || undefined,
  });
  if (!isAdmin) return <ErrorAlert error={new Error("The audit log needs the admin role.")} />;
  const entries = audit.data?.pages.flatMap((p) => p.entries ?? []) ?? [];
  const apply = (event: FormEvent) => {
    event.preventDefault();
    setFilters({ ...draft });
  };
  return (
    <>
      <PageHeader title="Audit log" description="Every change and every refused attempt: who, what, on which target, from where." />
      <form onSubmit={apply} className="mb-4 grid gap-3 sm:grid-cols-[1fr_1fr_1fr_auto] sm:items-end">
        {(["user", "app", "action"] as const).map((key) => (
          <div key={key} className="grid gap-1.5">
            <Label htmlFor={`audit-${key}`} className="capitalize">
              {key}
            </Label>
            <Input id={`audit-${key}`} value={draft[key]} placeholder={key === "action" ? "appos.v1.Apps" : ""} onChange={(e) => setDraft({ ...draft, [key]: e.target.value })} />
          </div>
        ))}
        <Button type="submit" variant="outline">
          Filter
        </Button>
      </form>
      <ErrorAlert error={audit.error} className="mb-4" />
      {audit.isPending ? (
        <Spinner />
      ) : entries.length === 0 ? (
        <EmptyState>No entries.</EmptyState>
      ) : (
        <div className="rounded-xl border bg-card shadow-xs">
          <Table>
            <THead>
              <TR>
                <TH>When</TH>
                <TH>Who</TH>
                <TH>What</TH>
                <TH className="hidden md:table-cell">Target</TH>
                <TH>Result</TH>
                <TH className="hidden lg:table-cell">From</TH>
              </TR>
            </THead>
            <TBody>
              {entries.map((e) => (
                <TR key={String(e.id)}>
                  <TD className="text-sm whitespace-nowrap">{formatTime(e.time)}</TD>
                  <TD className="text-sm">
                    {e.actor}
                    {e.role && <div className="text-xs text-muted-foreground">{e.role}</div>}
                  </TD>
                  <TD className="font-mono text-xs">
                    {(e.action ?? "").replace(/^appos\.v1\./, "")}
                    {e.message && <div className="max-w-80 truncate font-sans text-muted-foreground" title={e.message}>{e.message}</div>}
                  </TD>
                  <TD className="hidden text-sm md:table-cell">{e.target || e.app || "—"}</TD>
                  <TD>
                    <Badge variant={e.result === "ok" ? "success" : "destructive"}>{e.result}</Badge>
                  </TD>
                  <TD className="hidden font-mono text-xs text-muted-foreground lg:table-cell">{e.client}</TD>
                </TR>
              ))}
            </TBody>
          </Table>
        </div>
      )}
      <LoadMore query={audit} />
    </>
  );
}
