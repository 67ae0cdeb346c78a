import { AlertCircle, Loader2 } from "lucide-react";
import type { ReactNode } from "react";
import { explainError } from "@/api/errors";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { cn } from "@/lib/utils";

/**
 * Every error as a person reads it: a plain summary first (`explainError`: which image, which port
 * and who holds it, …), the server's full text, code and request id on demand in a <details>, and
 * the next steps as buttons (`actions`) under it. Takes an ApiError, any thrown value, or a message
 * (a deployment's reason). A page that knows the message better gives its own `summary`; the
 * server's text stays under Details.
 */
export function ErrorAlert({ error, className, actions, title, summary }: { error: unknown; className?: string; actions?: ReactNode; title?: string; summary?: string }) {
  if (!error) return null;
  const explained = explainError(error);
  const shown = summary ?? explained.summary;
  const more = explained.detail.trim() !== shown.trim();
  return (
    <Alert variant="destructive" className={className} data-problem={explained.kind}>
      <AlertCircle className="mt-0.5" />
      <div className="min-w-0">
        {title && <p className="font-medium">{title}</p>}
        <p className="break-words whitespace-pre-wrap" data-testid="error-summary">{shown}</p>
        {more && (
          <details className="mt-1 text-xs">
            <summary className="cursor-pointer opacity-80 select-none">Details</summary>
            <pre className="mt-1 break-words whitespace-pre-wrap font-mono opacity-80" data-testid="error-detail">{explained.detail}</pre>
          </details>
        )}
        {actions && <div className="mt-2 flex flex-wrap gap-2">{actions}</div>}
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
  // servers
  up: "success",
  local: "success",
  connecting: "default",
};

/** A status word (running, failed, …) with its colour; the word itself is the text, unless a
 * `label` puts it in plainer words ("2 of 3 running"). */
export function StatusBadge({ status, label, testId, className }: { status?: string; label?: string; testId?: string; className?: string }) {
  const word = status || "unknown";
  const live = word === "deploying" || word === "pending" || word === "running" || word === "connecting";
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
