import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { createFileRoute } from "@tanstack/react-router";
import { useState } from "react";
import { api, unwrap } from "@/api/client";
import { AuditFilters, shownAction, type AuditFilter } from "@/components/AuditFilters";
import { EmptyState, ErrorAlert, LoadMore, PageHeader, Spinner } from "@/components/common";
import { Badge } from "@/components/ui/badge";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { auditSentence, codeInWords } from "@/lib/auditWords";
import { useCan } from "@/lib/auth";
import { formatTime } from "@/lib/format";

export const Route = createFileRoute("/_auth/audit")({
  component: AuditPage,
});

function AuditPage() {
  const isAdmin = useCan("admin");
  const [filters, setFilters] = useState<AuditFilter>({ user: "", app: "", action: "" });
  // What the filters offer: the values of the latest entries, whatever the filter shows now.
  const recent = useQuery({
    queryKey: ["audit", "choices"],
    enabled: isAdmin,
    queryFn: () => unwrap(api.GET("/api/v1/audit", { params: { query: { page_size: 500 } } })),
  });
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
  return (
    <>
      <PageHeader title="Audit log" description="Every change and every refused attempt: who, what, on which target, from where." />
      <AuditFilters entries={[...(recent.data?.entries ?? []), ...entries]} onApply={setFilters} />
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
                  <TD className="text-sm">
                    <span data-testid="audit-sentence">{auditSentence(e)}</span>
                    <div className="font-mono text-xs text-muted-foreground">{shownAction(e.action)}</div>
                    {e.message && e.result !== "ok" && <div className="max-w-80 truncate text-xs text-muted-foreground" title={e.message}>{e.message}</div>}
                  </TD>
                  <TD className="hidden text-sm md:table-cell">{e.target || e.app || "—"}</TD>
                  <TD>
                    <Badge variant={e.result === "ok" ? "success" : "destructive"} title={e.result}>
                      {codeInWords(e.result)}
                    </Badge>
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
