import { AlertCircle, Loader2 } from "lucide-react";
import type { ReactNode } from "react";
import { ApiError, errorMessage } from "@/api/errors";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { cn } from "@/lib/utils";

/** An API error as a person reads it: the server's message, and the request id for the logs. */
export function ErrorAlert({ error, className }: { error: unknown; className?: string }) {
  if (!error) return null;
  const requestId = error instanceof ApiError ? error.requestId : "";
  return (
    <Alert variant="destructive" className={className}>
      <AlertCircle className="mt-0.5" />
      <div className="min-w-0">
        <p className="break-words whitespace-pre-wrap">{errorMessage(error)}</p>
        {requestId && <p className="mt-1 text-xs opacity-70">request id {requestId}</p>}
      </div>
    </Alert>
  );
}

export function Spinner({ className, label }: { className?: string; label?: string }) {
  return (
    <span className={cn("inline-flex items-center gap-2 text-sm text-muted-foreground", className)} role="status">
      <Loader2 className="size-4 animate-spin" />
      {label ?? "Loading…"}
    </span>
  );
}

const STATUS_VARIANT: Record<string, "success" | "warning" | "destructive" | "muted" | "default"> = {
  running: "success",
  succeeded: "success",
  valid: "success",
  healthy: "success",
  ok: "success",
  delivered: "success",
  retrying: "warning",
  down: "destructive",
  partially_running: "warning",
  unhealthy: "destructive",
  expiring: "warning",
  deploying: "default",
  pending: "default",
  starting: "default",
  stopped: "muted",
  exited: "muted",
  cancelled: "muted",
  none: "muted",
  failed: "destructive",
  dead: "destructive",
};

/** A status word (running, failed, …) with its colour; the word itself is the text, unless a
 * `label` puts it in plainer words ("2 of 3 running"). */
export function StatusBadge({ status, label, testId, className }: { status?: string; label?: string; testId?: string; className?: string }) {
  const word = status || "unknown";
  const live = word === "deploying" || word === "pending" || word === "running";
  return (
    <Badge variant={STATUS_VARIANT[word] ?? "muted"} className={className}>
      <span
        aria-hidden
        className={cn("size-1.5 rounded-full bg-current", live && word !== "running" && "animate-pulse")}
      />
      <span data-testid={testId}>{label || word}</span>
    </Badge>
  );
}

export function PageHeader({ title, description, actions }: { title: ReactNode; description?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-6 flex flex-col gap-3 sm:flex-row sm:items-end sm:justify-between">
      <div className="min-w-0">
        <h1 className="truncate text-2xl font-semibold tracking-tight">{title}</h1>
        {description && <div className="mt-1 text-sm text-muted-foreground">{description}</div>}
      </div>
      {actions && <div className="flex flex-wrap gap-2">{actions}</div>}
    </div>
  );
}

export function EmptyState({ children }: { children: ReactNode }) {
  return <div className="rounded-xl border border-dashed p-8 text-center text-sm text-muted-foreground">{children}</div>;
}

/** A short success message next to the control that caused it. */
export function SuccessNote({ children, className }: { children: ReactNode; className?: string }) {
  return (
    <span role="status" className={cn("text-sm text-[oklch(0.42_0.12_155)]", className)}>
      {children}
    </span>
  );
}

/** "Load more" under a paged list (an infinite query); nothing once the server has no next page. */
export function LoadMore({ query, className }: { query: { hasNextPage: boolean; isFetchingNextPage: boolean; fetchNextPage: () => unknown }; className?: string }) {
  if (!query.hasNextPage) return null;
  return (
    <div className={cn("mt-4 flex justify-center", className)}>
      <Button variant="outline" onClick={() => query.fetchNextPage()} disabled={query.isFetchingNextPage}>
        {query.isFetchingNextPage ? "Loading…" : "Load more"}
      </Button>
    </div>
  );
}
